import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { requireLab } from '../support/lab.js';
import { asUser } from '../support/lab-user.js';
import { http, labNode, reboot, waitHttp, type LabNode } from '../support/node.js';

// The node configuration read by every entry point, tried as a new user would: the catalog
// set once in ~/.config/archy-quadlet/config.yml, apps installed with no --apps and no
// ARCHY_QUADLET_APPS, the boot hook installed with a plain `setup --system`. A manifest
// changed while the node was off is what the node runs after the reboot.

const enabled = requireLab('user-manager');
let node: LabNode;
let configFile: string;

/** archy-quadlet as the lab user with none of the test catalog's environment. */
const aq = (args: string[]) => asUser(['archy-quadlet', ...args], { timeout: 120_000 });

beforeAll(async () => {
  if (!enabled) return;
  node = await labNode();
  configFile = join(node.user.home, '.config/archy-quadlet/config.yml');
  await asUser([
    'sh',
    '-c',
    'mkdir -p "$(dirname "$1")" && printf "catalog: %s\\n" "$2" > "$1"',
    'sh',
    configFile,
    node.appsDir,
  ]);
  await execa('archy-quadlet', ['setup', '--system']);
}, 180_000);
afterAll(async () => {
  if (!enabled) return;
  await execa('archy-quadlet', ['setup', '--system', '--remove'], { reject: false });
  await asUser(['rm', '-f', configFile], { reject: false });
  await asUser(['systemctl', '--user', 'daemon-reload']);
  await node.cleanup();
}, 180_000);

describe.runIf(enabled)('one node configuration, at boot too', () => {
  it('config shows the catalog and where it comes from; install records it', async () => {
    const config = JSON.parse(String((await aq(['config', '--json'])).stdout));
    expect(config.settings[0]).toEqual({ key: 'catalog', value: node.appsDir, from: configFile });
    await aq(['install', 'web', '--wait', '--timeout', '60']);
    await waitHttp(18081);
    const after = String((await aq(['config'])).stdout);
    expect(after).toMatch(new RegExp(`^app web: installed from ${node.appsDir}$`, 'm'));
    const doctor = JSON.parse(String((await asUser(['archy-quadlet', 'doctor', '--json'], { reject: false })).stdout));
    expect(doctor.checks.find((c: { id: string }) => c.id === 'catalog')).toMatchObject({ level: 'ok' });
  }, 120_000);

  it('the boot hook renders from the configured catalog a manifest changed while the node was off', async () => {
    const manifest = join(node.appsDir, 'web/manifest.yml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('hostPort: 18081', 'hostPort: 18091'));
    await reboot();
    expect(await waitHttp(18091, '/', 90_000)).toBe('ok\n');
    expect(await http(18081)).toBeUndefined();
  }, 240_000);
});
