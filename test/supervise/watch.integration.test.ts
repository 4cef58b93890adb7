import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { AS_USER, requireLab } from '../support/lab.js';
import { waitFor } from '../support/lab-user.js';
import { useLabNode } from '../support/node.js';

// The watcher in the lab: it reacts to a manifest change, and stops cleanly on SIGTERM.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

describe.runIf(enabled)('the watcher in the lab', () => {
  it('watch: a manifest change is acted on without waiting for the interval; SIGTERM stops it cleanly', async () => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    const watcher = execa(
      AS_USER,
      ['env', `ARCHY_QUADLET_APPS=${node().appsDir}`, 'archy-quadlet', 'watch', '--interval', '600'],
      {
        cwd: '/',
        reject: false,
        all: true,
        // The watcher finishes the pass in flight before it exits: under load that takes longer
        // than execa's default 5 s before SIGKILL, which made this test fail with no exit code.
        forceKillAfterDelay: 60_000,
      },
    );
    let log = '';
    watcher.all!.on('data', (c: Buffer) => (log += String(c)));
    await waitFor(
      'the watcher to make its first pass',
      async () => (/"trigger":"start"/.test(log) ? true : undefined),
      30_000,
    );
    const manifest = join(node().appsDir, 'web/manifest.yml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('hostPort: 18081', 'hostPort: 18089'));
    const unitFile = join(node().unitRoot, 'web/web.container');
    // The interval is 10 minutes: only the watcher can have done this.
    await waitFor(
      'the unit file to follow the manifest',
      async () => (readFileSync(unitFile, 'utf8').includes('18089') ? true : undefined),
      30_000,
      100,
    );
    await waitFor(
      'the pass to be logged',
      async () => (/"trigger":"change: [^"]*web\/manifest\.yml"/.test(log) ? true : undefined),
      30_000,
      100,
    );
    watcher.kill('SIGTERM');
    const done = await watcher;
    if (done.exitCode !== 0) throw new Error(`the watcher ended with ${done.exitCode ?? done.signal}:\n${log}`);
    expect(log).toMatch(/"msg":"stopped"/);
  }, 120_000);
});
