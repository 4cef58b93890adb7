import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { http, labNode, reboot, waitHttp, type LabNode } from '../support/node.js';

// The boot-time generator hook, installed as root the way a node image would, judged by
// what a reboot brings up: the units follow the manifests and intents as they are at boot,
// even when they changed while the node was off, before any reconcile pass has run.

const enabled = requireLab('user-manager');
let node: LabNode;
const GENERATOR = '/etc/systemd/user-generators/archy-quadlet';

beforeAll(async () => {
  if (!enabled) return;
  node = await labNode();
  await execa('archy-quadlet', ['setup', '--system', '--apps', node.appsDir]);
}, 180_000);
afterAll(async () => {
  if (!enabled) return;
  await execa('archy-quadlet', ['setup', '--system', '--remove'], { reject: false });
  await asUser(['systemctl', '--user', 'daemon-reload']);
  await node.cleanup();
}, 180_000);

describe.runIf(enabled)('the generator hook at boot', () => {
  it('is installed by setup --system and never fails, even on a state file it cannot read', async () => {
    expect(readFileSync(GENERATOR, 'utf8')).toContain('dist/cli/generator.js');
    const dirs = ['/tmp/aq-gen-n', '/tmp/aq-gen-e', '/tmp/aq-gen-l'];
    await asUser([
      'bash',
      '-c',
      `mkdir -p ${dirs.join(' ')} ~/.local/state/archy-quadlet && echo garbage > ~/.local/state/archy-quadlet/state.json`,
    ]);
    const r = await asUser([GENERATOR, ...dirs], { reject: false });
    expect(r.exitCode).toBe(0);
    expect(String(r.stderr)).toMatch(/archy-quadlet-generator: the state file .* is unreadable/);
    expect(String((await asUser(['ls', '-A', dirs[1]!])).stdout)).toBe('');
    await asUser(['bash', '-c', `rm -rf ${dirs.join(' ')} ~/.local/state/archy-quadlet`]);
  }, 60_000);

  it('boots an app whose manifest changed while the node was off on its last good units, then a pass updates it through its gate', async () => {
    await node.aq(['install', 'web', '--wait', '--timeout', '60']);
    await waitHttp(18081);
    await waitFor(
      'web to have a last good set',
      async () => {
        await node.aq(['reconcile'], { reject: false });
        const r = await asUser(['cat', join(node.stateDir, 'state.json')], { reject: false });
        return r.exitCode === 0 && JSON.parse(String(r.stdout)).apps.web?.lastGood ? true : undefined;
      },
      60_000,
      1000,
    );
    const manifest = join(node.appsDir, 'web/manifest.yml');
    const unitFile = join(node.unitRoot, 'web/web.container');
    const before = readFileSync(unitFile, 'utf8');
    // The catalog is updated while the node is off: no pass runs before the reboot.
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('hostPort: 18081', 'hostPort: 18091'));
    await reboot();
    // The hook leaves it to podman-user-generator: the last good units come up...
    expect(await waitHttp(18081, '/', 90_000)).toBe('ok\n');
    expect(readFileSync(unitFile, 'utf8')).toBe(before);
    const fragment = String(
      (await asUser(['systemctl', '--user', 'show', '-p', 'FragmentPath,NeedDaemonReload', 'web.service'])).stdout,
    );
    expect(fragment).not.toMatch(/generator\.early/);
    expect(fragment).toMatch(/NeedDaemonReload=no/);
    // ...and the update is a pass's: health-gated, the new release running once it is healthy.
    const r = await node.aq(['update', 'web', '--wait', '--timeout', '120'], { timeout: 180_000 });
    expect(r.stdout).toMatch(/^web: running$/m);
    expect(readFileSync(unitFile, 'utf8')).toContain('PublishPort=127.0.0.1:18091:8080');
    expect(await waitHttp(18091)).toBe('ok\n');
    expect(await http(18081)).toBeUndefined();
  }, 300_000);

  it('brings a stale app up as its manifest says at boot when it has no last good set to boot', async () => {
    // Stopped, then its intent put back to running while the node was off (as a restore of the
    // state dir would): its files on disk say "not at boot", its intent says running.
    await node.aq(['stop', 'web', '--wait', '--timeout', '60']);
    const statePath = join(node.stateDir, 'state.json');
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    state.apps.web.intent = 'running';
    delete state.apps.web.lastGood;
    writeFileSync(statePath, JSON.stringify(state)); // root writing the lab user's file keeps its owner
    await reboot();
    expect(await waitHttp(18091, '/', 90_000)).toBe('ok\n');
    const fragment = String(
      (await asUser(['systemctl', '--user', 'show', '-p', 'FragmentPath', 'web.service'])).stdout,
    );
    expect(fragment).toMatch(/generator\.early\/web\.service/);
    await node.aq(['reconcile']);
    expect(readFileSync(join(node.unitRoot, 'web/web.container'), 'utf8')).toContain('WantedBy=default.target');
    expect(await waitHttp(18091)).toBe('ok\n');
  }, 300_000);

  it('keeps an app on its last good units when its manifest broke while the node was off', async () => {
    const manifest = join(node.appsDir, 'web/manifest.yml');
    writeFileSync(manifest, `${readFileSync(manifest, 'utf8')}\nbogus: [\n`);
    await reboot();
    expect(await waitHttp(18091, '/', 90_000)).toBe('ok\n');
    const status = await node.status('web');
    expect(status).toMatchObject({ state: 'running' });
    const text = (await node.aq(['status'])).stdout;
    expect(text).toMatch(/manifest problem: .*web\/manifest\.yml:\d+:\d+/);
  }, 300_000);
});
