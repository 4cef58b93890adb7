import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { planSteps } from '../../src/supervise/plan-steps.js';
import { loadDesired } from '../../src/supervise/load-desired.js';
import { readState } from '../../src/supervise/state-store.js';
import { recordSecretId } from '../../src/supervise/secret-ids.js';
import { parseShow } from '../../src/supervise/systemctl.js';
import { readNodeFacts } from '../../src/supervise/node-facts-adapter.js';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';
import { checkCatalog } from '../../src/catalog/catalog-checks.js';
import type { Desired, DesiredApp } from '../../src/supervise/types.js';
import { app, container, converged, unit } from './fake-systemd.js';
import { fakeNode, TEST_FACTS, type FakeNode } from './fake-adapters.js';

// Apps that need apps: what a review of the first version found, each held by a test.

let node: FakeNode | undefined;
afterEach(() => node?.cleanup());

const load = (n: FakeNode) =>
  readState(n.paths.stateDir).then((state) =>
    loadDesired(n.paths, state, {
      writeCache: true,
      build: 'b1',
      facts: TEST_FACTS,
      validator: async () => createManifestValidator(),
    }),
  );
const fileOf = (d: Desired, id: string) =>
  d.apps.find((a) => a.id === id)!.rendered!.files.find((f) => f.name === `${id}.container`)!.content;

describe('apps that need apps: review findings', () => {
  it('a re-created provider secret restarts the provider too: its own secret ids are in its units', async () => {
    node = fakeNode();
    node.install('rpc-core');
    node.install('rpc-client');
    const before = await load(node);
    expect(fileOf(before, 'rpc-core')).not.toContain('io.archipelago.secret-ids');
    await recordSecretId(node.paths.stateDir, 'rpc-core-password', 'aaaaaaaaaaaaaaaaaaaaaaaaa');
    const first = await load(node);
    expect(fileOf(first, 'rpc-core')).toContain('Label="io.archipelago.secret-ids=aaaaaaaaaaaa"');
    expect(fileOf(first, 'rpc-client')).toContain('Label="io.archipelago.link.rpc=rpc-core aaaaaaaaaaaa"');
    await recordSecretId(node.paths.stateDir, 'rpc-core-password', 'bbbbbbbbbbbbbbbbbbbbbbbbb');
    const again = await load(node);
    // Both files change: the next pass restarts the provider and its dependent together.
    expect(fileOf(again, 'rpc-core')).toContain('Label="io.archipelago.secret-ids=bbbbbbbbbbbb"');
    expect(fileOf(again, 'rpc-client')).toContain('Label="io.archipelago.link.rpc=rpc-core bbbbbbbbbbbb"');
  });

  it('a provider whose manifest broke keeps its dependents linked (they are not held for a provider that is there)', async () => {
    node = fakeNode();
    node.install('rpc-core');
    node.install('rpc-client');
    await load(node);
    const manifest = join(node.paths.appsDir, 'rpc-core/manifest.yml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('port: 8332', 'port: "no"'));
    const d = await load(node);
    expect(d.apps.find((a) => a.id === 'rpc-core')!.error).toMatch(/provides\.rpc\.port/);
    const client = d.apps.find((a) => a.id === 'rpc-client')!;
    expect(client.error).toBeUndefined();
    expect(client.rendered!.needs).toEqual([
      { iface: 'rpc', optional: false, provider: 'rpc-core', service: 'rpc-core.service' },
    ]);
  });

  it('a container that requires (hard) a linked one waits for that provider too', async () => {
    node = fakeNode();
    const dir = join(node.paths.appsDir, 'pair');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(
      join(dir, 'manifest.yml'),
      [
        'schemaVersion: 1',
        'id: pair',
        'name: Pair',
        'version: "1"',
        'requires:',
        '  rpc: { containers: [api] }',
        'containers:',
        '  - name: api',
        '    image: localhost/busybox:latest',
        '  - name: web',
        '    image: localhost/busybox:latest',
        '    dependsOn: { api: hard }',
        '',
      ].join('\n'),
    );
    node.install('rpc-core');
    node.install('pair');
    const d = await load(node);
    const pair = d.apps.find((a) => a.id === 'pair')!;
    for (const c of pair.rendered!.containers)
      expect(c.waitsFor, c.service).toEqual([{ iface: 'rpc', provider: 'rpc-core', service: 'rpc-core.service' }]);
    // The web unit itself carries no Requisite (only api is linked): it waits through api.
    expect(pair.rendered!.files.find((f) => f.name === 'pair-web.container')!.content).not.toContain('Requisite=');
  });

  it('a start job queued behind its provider is a wait, not a start again', () => {
    const shown = parseShow('Id=lnd.service\nLoadState=loaded\nActiveState=inactive\nSubState=dead\nJob=42\n');
    expect(shown['lnd.service']!.jobQueued).toBe(true);
    expect(parseShow('Id=lnd.service\nActiveState=inactive\nJob=\n')['lnd.service']!.jobQueued).toBeUndefined();
    const a: DesiredApp = app('lnd', 'running', ['lnd']);
    a.rendered!.containers = [container('lnd-lnd')];
    const o = converged([a], 'inactive');
    o.units['lnd-lnd.service'] = unit('inactive', { jobQueued: true });
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'wait',
        app: 'lnd',
        unit: 'lnd-lnd.service',
        reason: 'start queued: waiting for the units it is ordered after',
      },
    ]);
  });

  it('queues the providers’ starts before their dependents’ (Requisite= is checked when the job is queued)', () => {
    const provider = app('electrumx', 'running', ['e']);
    const ui = app('electrs-ui', 'running', ['u']);
    ui.rendered!.containers = [
      container('electrs-ui-u', {
        waitsFor: [{ iface: 'electrum', provider: 'electrumx', service: 'electrumx-e.service' }],
      }),
    ];
    ui.rendered!.needs = [
      { iface: 'electrum', optional: false, provider: 'electrumx', service: 'electrumx-e.service' },
    ];
    const d: Desired = { apps: [ui, provider] }; // the dependent sorts first by id
    const steps = planSteps(d, converged(d.apps, 'inactive'));
    expect(steps.filter((s) => s.kind === 'start').map((s) => s.app)).toEqual(['electrumx', 'electrs-ui']);
  });

  it('the LAN address: the default route of the lowest metric; with none, the address last seen is kept', () => {
    const dir = mkdtempSync(join(tmpdir(), 'aq-route-'));
    try {
      const table = join(dir, 'route');
      const header = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n';
      writeFileSync(table, `${header}lo\t0000FEA9\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n`);
      const previous = { ...TEST_FACTS, lanAddress: '192.168.1.77' };
      expect(readNodeFacts(previous, table).lanAddress).toBe('192.168.1.77');
      expect(readNodeFacts(undefined, join(dir, 'missing')).lanAddress).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('alternatives must provide an interface on the same port; a provider volume is never relabelled private', () => {
    const v = createManifestValidator();
    const text = (id: string, port: number) =>
      [
        'schemaVersion: 1',
        `id: ${id}`,
        'name: P',
        'version: "1"',
        'provides:',
        `  rpc: { container: ${id}, port: ${port} }`,
        'containers:',
        `  - name: ${id}`,
        '    image: localhost/busybox:latest',
        '',
      ].join('\n');
    const entry = (id: string, port: number) => {
      const file = `apps/${id}/manifest.yml`;
      return { id, file, dir: `apps/${id}`, result: v.validate(text(id, port), file, id) };
    };
    const checked = checkCatalog([entry('p-one', 8332), entry('p-two', 18332)]);
    const two = checked.find((a) => a.id === 'p-two')!;
    expect(two.result.ok ? [] : two.result.errors.map(formatManifestError)).toEqual([
      'apps/p-two/manifest.yml:6:34: provides.rpc.port: p-one provides rpc on port 8332: alternatives must use the same port',
    ]);
    const dependent = [
      'schemaVersion: 1',
      'id: d',
      'name: D',
      'version: "1"',
      'requires:',
      '  rpc: {}',
      'containers:',
      '  - name: d',
      '    image: localhost/busybox:latest',
      '    volumes:',
      '      - volume: rpc.data',
      '        target: /data',
      '        selinux: private',
      '',
    ].join('\n');
    const r = v.validate(dependent, 'apps/d/manifest.yml', 'd');
    expect(r.ok ? [] : r.errors.map(formatManifestError)).toEqual([
      "apps/d/manifest.yml:13:18: containers[0].volumes[0].selinux: must not relabel a provider's volume private (its own app would lose it)",
    ]);
  });
});
