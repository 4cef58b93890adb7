import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planSteps } from '../../src/supervise/plan-steps.js';
import { loadDesired } from '../../src/supervise/load-desired.js';
import { readState, writeState } from '../../src/supervise/state-store.js';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { renderNodeUnits } from '../../src/render/render-app.js';
import type { Desired, DesiredApp, Step } from '../../src/supervise/types.js';
import { app, container, converged, file, unit } from './fake-systemd.js';
import { fakeNode, TEST_FACTS, type FakeNode } from './fake-adapters.js';

// The planner and apps that need apps: a dependent starts only while its provider is up or
// starts in the same batch; the node network file is written, never removed.

const BTC = { iface: 'bitcoind', provider: 'bitcoin-core', service: 'bitcoin-core-node.service' };
const LN = { iface: 'lnd', provider: 'lnd', service: 'lnd-node.service' };

/** An app with one container `<id>-node` that waits for the given providers. */
function linked(id: string, intent: DesiredApp['intent'], waitsFor: Array<typeof BTC> = []): DesiredApp {
  const a = app(id, intent, ['node']);
  a.rendered!.containers = [container(`${id}-node`, { waitsFor })];
  a.rendered!.needs = waitsFor.map((w) => ({
    iface: w.iface,
    optional: false,
    provider: w.provider,
    service: w.service,
  }));
  return a;
}

const starts = (steps: Step[]) => steps.flatMap((s) => (s.kind === 'start' ? s.units : []));
const waits = (steps: Step[]) => steps.filter((s) => s.kind === 'wait');

describe('planSteps: a dependent and its provider', () => {
  it('waits, named, while the provider is stopped by the user: no start, no backoff, no reset', () => {
    const d: Desired = { apps: [linked('bitcoin-core', 'stopped'), linked('lnd', 'running', [BTC])] };
    const o = converged(d.apps, 'inactive');
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'wait',
        app: 'lnd',
        unit: 'lnd-node.service',
        reason: 'waiting for bitcoind (bitcoin-core is stopped)',
      },
    ]);
    // Failed (it crashed when the provider went away): still a wait, not a start with backoff.
    o.units['lnd-node.service'] = unit('failed');
    const steps = planSteps(d, o);
    expect(steps.map((s) => s.kind)).toEqual(['wait']);
    expect(steps[0]).toMatchObject({ reason: 'waiting for bitcoind (bitcoin-core is stopped)' });
  });

  it('names the state of a provider that is not set up yet, or failed and backing off', () => {
    const d: Desired = { apps: [linked('lnd', 'running', [BTC])] };
    const o = converged(d.apps, 'inactive');
    expect(waits(planSteps(d, o))).toEqual([
      {
        kind: 'wait',
        app: 'lnd',
        unit: 'lnd-node.service',
        reason: 'waiting for bitcoind (bitcoin-core is not set up yet)',
      },
    ]);
    const both: Desired = { apps: [linked('bitcoin-core', 'running'), linked('lnd', 'running', [BTC])] };
    const o2 = converged(both.apps, 'inactive');
    o2.units['bitcoin-core-node.service'] = unit('failed');
    o2.backoff['bitcoin-core-node.service'] = { failures: 2, notBeforeMs: o2.nowMs + 10_000 };
    const steps = planSteps(both, o2);
    expect(starts(steps)).toEqual([]);
    expect(steps.filter((s) => s.kind === 'setBackoff' || s.kind === 'resetFailed')).toEqual([]);
    expect(waits(steps).map((s) => s.reason)).toEqual([
      'backing off after 2 failure(s): next start in 10 s',
      'waiting for bitcoind (bitcoin-core is failed)',
    ]);
  });

  it('does not start a dependent beside the stop of its provider (the stop runs first: Requisite would fail it)', () => {
    const d: Desired = { apps: [linked('bitcoin-core', 'stopped'), linked('lnd', 'running', [BTC])] };
    const o = converged(d.apps, 'inactive');
    o.units['bitcoin-core-node.service'] = unit('active');
    const steps = planSteps(d, o);
    expect(steps.find((s) => s.kind === 'stop')).toMatchObject({
      app: 'bitcoin-core',
      units: ['bitcoin-core-node.service'],
    });
    expect(starts(steps)).toEqual([]);
    expect(waits(steps).map((s) => s.reason)).toEqual(['waiting for bitcoind (bitcoin-core is stopping)']);
  });

  it('starts both in one batch when both should run and both are inactive', () => {
    const d: Desired = { apps: [linked('bitcoin-core', 'running'), linked('lnd', 'running', [BTC])] };
    const steps = planSteps(d, converged(d.apps, 'inactive'));
    expect(steps).toEqual([
      { kind: 'start', app: 'bitcoin-core', units: ['bitcoin-core-node.service'], reason: 'app should be running' },
      { kind: 'start', app: 'lnd', units: ['lnd-node.service'], reason: 'app should be running' },
    ]);
  });

  it('starts the dependent while the provider is activating or active', () => {
    for (const state of ['activating', 'active', 'reloading']) {
      const d: Desired = { apps: [linked('bitcoin-core', 'running'), linked('lnd', 'running', [BTC])] };
      const o = converged(d.apps, 'inactive');
      o.units['bitcoin-core-node.service'] = unit(state);
      expect(starts(planSteps(d, o))).toEqual(['lnd-node.service']);
    }
  });

  it('a chain settles: with the root provider stopped, neither its dependent nor theirs starts', () => {
    const d: Desired = {
      apps: [linked('bitcoin-core', 'stopped'), linked('btcpay', 'running', [LN]), linked('lnd', 'running', [BTC])],
    };
    const steps = planSteps(d, converged(d.apps, 'inactive'));
    expect(starts(steps)).toEqual([]);
    expect(waits(steps).map((s) => `${s.app}: ${s.reason}`)).toEqual([
      'btcpay: waiting for lnd (lnd is stopped)',
      'lnd: waiting for bitcoind (bitcoin-core is stopped)',
    ]);
    // With the root running, the whole chain starts in one batch, providers queued first.
    d.apps[0] = linked('bitcoin-core', 'running');
    expect(starts(planSteps(d, converged(d.apps, 'inactive')))).toEqual([
      'bitcoin-core-node.service',
      'lnd-node.service',
      'btcpay-node.service',
    ]);
  });
});

describe('planSteps: the node network file', () => {
  const [net] = renderNodeUnits('10.89.254.0/24').map(({ name, content }) => ({ name, content }));
  const apps = [linked('bitcoin-core', 'running'), linked('lnd', 'running', [BTC])];

  it('writes it when missing, then reloads', () => {
    const d: Desired = { apps, nodeFiles: [net!] };
    expect(planSteps(d, converged(apps))).toEqual([
      {
        kind: 'writeUnit',
        path: '_node/archy-node.network',
        content: net!.content,
        reason: 'node network file missing',
      },
      { kind: 'daemonReload', reason: 'unit files changed' },
    ]);
  });

  it('rewrites our own when it changed or was edited, and is quiet when it is as rendered', () => {
    const d: Desired = { apps, nodeFiles: [net!] };
    const o = converged(apps);
    o.nodeFiles = [file(net!.name, net!.content)];
    expect(planSteps(d, o)).toEqual([]);
    o.nodeFiles = [file(net!.name, 'older')];
    expect(planSteps(d, o)[0]).toMatchObject({ kind: 'writeUnit', reason: 'node network changed' });
    o.nodeFiles = [{ ...file(net!.name, 'edited'), intact: false }];
    expect(planSteps(d, o)[0]).toMatchObject({ kind: 'writeUnit', reason: 'edited by hand' });
  });

  it('leaves a file of that name it did not write alone', () => {
    const d: Desired = { apps, nodeFiles: [net!] };
    const o = converged(apps);
    o.nodeFiles = [{ ...file(net!.name, 'theirs'), owned: false, intact: false }];
    expect(planSteps(d, o)).toEqual([]);
  });

  it('never removes it, even when no app links any more', () => {
    const plain = [app('web', 'running', ['web'])];
    const o = converged(plain);
    o.nodeFiles = [file(net!.name, net!.content)];
    expect(planSteps({ apps: plain }, o)).toEqual([]);
    const gone: Desired = { apps: [linked('lnd', 'absent', [BTC])] };
    const o2 = converged(gone.apps, 'inactive');
    o2.nodeFiles = [file(net!.name, net!.content)];
    const steps = planSteps(gone, o2);
    expect(steps.filter((s) => s.kind === 'removeUnit').map((s) => (s as { path: string }).path)).toEqual([
      'lnd/lnd-node.container',
    ]);
  });
});

// Manifests of a small catalog, written into the fake node's apps directory.
const PROVIDER = (id: string) => `schemaVersion: 1
id: ${id}
name: Bitcoin
version: "1.0.0"
provides:
  bitcoind:
    container: ${id}
    port: 8332
    secrets: [rpc-password]
secrets:
  rpc-password: {}
containers:
  - name: ${id}
    image: docker.io/library/busybox:latest
`;
const LND = `schemaVersion: 1
id: lnd
name: LND
version: "1.0.0"
requires:
  bitcoind: {}
containers:
  - name: lnd
    image: docker.io/library/busybox:latest
    environment:
      ALIAS: "{{node.mdnsName}}"
    secretEnvironment:
      BTC_PASS: bitcoind.rpc-password
`;

describe('loadDesired: the graph across a provider switch', () => {
  let node: FakeNode;
  afterEach(() => node?.cleanup());

  function catalog() {
    node = fakeNode();
    for (const [id, text] of [
      ['bitcoin-core', PROVIDER('bitcoin-core')],
      ['bitcoin-knots', PROVIDER('bitcoin-knots')],
      ['lnd', LND],
    ] as const) {
      mkdirSync(join(node.paths.appsDir, id), { recursive: true });
      writeFileSync(join(node.paths.appsDir, id, 'manifest.yml'), text);
    }
  }
  const load = async () =>
    loadDesired(node.paths, await readState(node.paths.stateDir), {
      writeCache: true,
      validator: async () => createManifestValidator(),
      build: 'test',
      facts: TEST_FACTS,
    });
  const lndOf = (d: Desired) => d.apps.find((a) => a.id === 'lnd')!;

  it('renders the dependent against the provider installed now, and its needs and waitsFor name it', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd');
    const a = await load();
    expect(lndOf(a).error).toBeUndefined();
    expect(lndOf(a).rendered!.needs).toEqual([
      { iface: 'bitcoind', optional: false, provider: 'bitcoin-core', service: 'bitcoin-core.service' },
    ]);
    expect(a.nodeFiles).toEqual(renderNodeUnits('10.89.254.0/24').map(({ name, content }) => ({ name, content })));
    const fileA = lndOf(a).rendered!.files.find((f) => f.name === 'lnd.container')!.content;
    expect(fileA).toContain('Environment="ALIAS=archy-test.local"');

    await writeState(node.paths.stateDir, {
      version: 1,
      apps: {
        'bitcoin-core': { intent: 'absent', purge: false, installedAt: '2026-01-01T00:00:00.000Z' },
        'bitcoin-knots': { intent: 'running', installedAt: '2026-01-01T00:00:00.000Z' },
        lnd: { intent: 'running', installedAt: '2026-01-01T00:00:00.000Z' },
      },
    });
    const b = await load();
    const lnd = lndOf(b).rendered!;
    expect(lnd.needs).toEqual([
      { iface: 'bitcoind', optional: false, provider: 'bitcoin-knots', service: 'bitcoin-knots.service' },
    ]);
    expect(lnd.containers[0]!.waitsFor).toEqual([
      { iface: 'bitcoind', provider: 'bitcoin-knots', service: 'bitcoin-knots.service' },
    ]);
    const fileB = lnd.files.find((f) => f.name === 'lnd.container')!.content;
    expect(fileB).not.toEqual(fileA);
    expect(fileB).toContain('Secret="bitcoin-knots-rpc-password,type=env,target=BTC_PASS"');
    expect(fileB).toContain('Requisite=bitcoin-knots.service');
    expect(fileA).toContain('Requisite=bitcoin-core.service');
  });

  it('holds a dependent whose required interface nobody provides, naming it', async () => {
    catalog();
    node.install('lnd');
    const d = await load();
    expect(lndOf(d).rendered).toBeUndefined();
    expect(lndOf(d).error).toBe('lnd needs bitcoind, and no installed app provides it');
    expect(d.nodeFiles).toBeUndefined();
  });
});
