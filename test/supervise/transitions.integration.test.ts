import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { AS_USER, requireLab } from '../support/lab.js';
import { waitFor } from '../support/lab-user.js';
import { containers, useLabNode } from '../support/node.js';

// Transitional states in the lab: stopping an app that is still starting (its health check
// has not passed: a plain `systemctl stop` would hang for TimeoutStopSec), and the watcher.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

describe.runIf(enabled)('transitions in the lab', () => {
  it('stop while still starting: stopped within its stop timeout, unit not failed, no container left', async () => {
    await node().aq(['install', 'slowstart']);
    await waitFor('slowstart to be starting', async () => ((await node().status('slowstart'))?.state === 'starting' ? true : undefined));
    const r = await node().aq(['stop', 'slowstart']);
    expect(r.stdout).toMatch(/^slowstart: stop recorded; \d+ step\(s\) issued/m);
    await waitFor('slowstart to be stopped', async () => ((await node().status('slowstart'))?.state === 'stopped' ? true : undefined), 30_000, 250);
    const s = await node().status('slowstart');
    expect(s!.units[0]).toMatchObject({ activeState: 'inactive', result: 'success' });
    expect(await containers()).not.toContain('slowstart');
  }, 90_000);

  it('uninstall while still starting: no unit, no container, nothing failed', async () => {
    await node().aq(['start', 'slowstart']);
    await waitFor('slowstart to be starting', async () => ((await node().status('slowstart'))?.state === 'starting' ? true : undefined));
    await node().aq(['uninstall', 'slowstart', '--wait', '--timeout', '60']);
    expect(await node().status('slowstart')).toBeUndefined();
    expect(await containers()).not.toContain('slowstart');
    const failed = await execa(AS_USER, ['systemctl', '--user', 'list-units', '--failed', '--plain', '--no-legend'], { cwd: '/' });
    expect(String(failed.stdout)).not.toMatch(/slowstart/);
  }, 90_000);

  it('watch: a manifest change is acted on without waiting for the interval; SIGTERM stops it cleanly', async () => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    const watcher = execa(AS_USER, ['env', `ARCHY_QUADLET_APPS=${node().appsDir}`, 'archy-quadlet', 'watch', '--interval', '600'], { cwd: '/', reject: false, all: true });
    let log = '';
    watcher.all!.on('data', (c: Buffer) => (log += String(c)));
    await waitFor('the watcher to make its first pass', async () => (/"trigger":"start"/.test(log) ? true : undefined), 30_000);
    const manifest = join(node().appsDir, 'web/manifest.yml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('hostPort: 18081', 'hostPort: 18089'));
    const unitFile = join(node().unitRoot, 'web/web.container');
    // The interval is 10 minutes: only the watcher can have done this.
    await waitFor('the unit file to follow the manifest', async () => (readFileSync(unitFile, 'utf8').includes('18089') ? true : undefined), 30_000, 100);
    await waitFor('the pass to be logged', async () => (/"trigger":"change: [^"]*web\/manifest\.yml"/.test(log) ? true : undefined), 30_000, 100);
    watcher.kill('SIGTERM');
    const done = await watcher;
    expect(done.exitCode).toBe(0);
    expect(log).toMatch(/"msg":"stopped"/);
  }, 120_000);
});
