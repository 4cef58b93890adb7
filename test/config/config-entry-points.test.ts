import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { loadDesired } from '../../src/supervise/load-desired.js';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { fakeNode, type FakeNode } from '../supervise/fake-adapters.js';

// The node configuration at the edges: the boot hook generates nothing from a malformed
// file (the last good units stay, rather than units from another catalog), and an app whose
// id is the configured node network's name is held.

let dir: string | undefined;
let node: FakeNode | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  node?.cleanup();
  dir = undefined;
  node = undefined;
});

describe('the node configuration at the entry points', () => {
  it('the boot hook generates nothing on a malformed configuration, says why, and exits 0', async () => {
    dir = mkdtempSync(join(tmpdir(), 'aq-gen-config-'));
    writeFileSync(join(dir, 'etc.yml'), 'catalog: not/absolute\n');
    const dirs = ['n', 'e', 'l'].map((d) => join(dir!, d));
    for (const d of dirs) mkdirSync(d);
    const generator = fileURLToPath(new URL('../../dist/cli/generator.js', import.meta.url));
    const r = await execa(process.execPath, [generator, ...dirs], {
      env: {
        ARCHY_QUADLET_SYSTEM_CONFIG: join(dir, 'etc.yml'),
        HOME: dir,
        XDG_CONFIG_HOME: join(dir, 'config'),
        ARCHY_QUADLET_BIN: '/bin/true',
      },
      reject: false,
    });
    expect(r.exitCode).toBe(0);
    expect(r.stderr).toBe(
      `archy-quadlet-generator: configuration ${join(dir, 'etc.yml')}:1: catalog: must be an absolute path: nothing generated (the last good units stay)`,
    );
    for (const d of dirs) expect(readdirSync(d)).toEqual([]);
  });

  it('an app whose id is the node network name is held, with the reason', async () => {
    node = fakeNode();
    const desired = await loadDesired(
      { ...node.paths, nodeNetwork: { name: 'web', subnet: '10.89.254.0/24' } },
      { version: 1, apps: { web: { intent: 'running', installedAt: 'T' } } },
      {
        writeCache: false,
        validator: async () => createManifestValidator(),
        facts: { hostname: 'h', mdnsName: 'h.local', lanAddress: '192.168.1.2', networkSubnet: '10.89.254.0/24' },
      },
    );
    expect(desired.apps[0]).toMatchObject({
      id: 'web',
      error: 'app id "web" is the node network\'s name (nodeNetwork.name in the configuration)',
    });
    expect(desired.apps[0]!.rendered).toBeUndefined();
  });
});
