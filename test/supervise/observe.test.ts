import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { observe } from '../../src/supervise/observe.js';
import { currentView, reconcilePass } from '../../src/supervise/supervisor.js';
import { fakeNode, type FakeNode } from './fake-adapters.js';
import { unit } from './fake-systemd.js';
import type { UnitSnapshot, UnitSnapshotStore } from '../../src/supervise/unit-snapshot.js';

/** A snapshot store in memory: systemd's load stamp and the containers' start times set by the test. */
function memoryStore() {
  const m = {
    saved: undefined as UnitSnapshot | undefined,
    writes: 0,
    stamp: 'gen1',
    cids: {} as Record<string, string>,
  };
  const store: UnitSnapshotStore = {
    read: async () => (m.saved ? structuredClone(m.saved) : undefined),
    loadStamp: async () => m.stamp,
    write: async (s) => {
      m.writes++;
      m.saved = structuredClone(s);
    },
    cidStamps: async (services) =>
      Object.fromEntries(services.flatMap((s) => (m.cids[s] !== undefined ? [[s, m.cids[s]!]] : []))),
  };
  return { m, store };
}

// observe on plain-data adapters: what a pass costs, and what it asks of whom.

let node: FakeNode;
afterEach(() => node?.cleanup());

const deps = (n: FakeNode) => ({
  unitRoot: n.paths.unitRoot,
  systemctl: n.sv.systemctl,
  podman: n.sv.podman,
  quadlet: n.sv.quadlet,
  busyPorts: async () => [],
  clock: n.sv.clock,
  backoff: {},
});

describe('observe', () => {
  it('a converged node costs one systemctl process, and neither Podman nor the generator', async () => {
    node = fakeNode();
    node.install('web');
    node.install('stack');
    await reconcilePass(node.sv);
    const { desired } = await currentView(node.sv);
    const [calls, podman, asked] = [
      node.sv.systemctl.calls,
      node.sv.podman.called.length,
      node.sv.quadlet.asked.length,
    ];
    const o = await observe(desired, deps(node));
    expect(node.sv.systemctl.calls - calls).toBe(1);
    expect(node.sv.podman.called.length - podman).toBe(0);
    expect(node.sv.quadlet.asked.length - asked).toBe(0);
    expect(o.rejectedRenders).toBeUndefined();
  });

  it('shows the generator only the apps whose files are about to change', async () => {
    node = fakeNode();
    node.install('web');
    node.install('data');
    await reconcilePass(node.sv);
    const manifest = join(node.paths.appsDir, 'web/manifest.yml');
    const { readFileSync } = await import('node:fs');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('hostPort: 18081', 'hostPort: 18082'));
    const { desired } = await currentView(node.sv);
    node.sv.quadlet.asked.length = 0;
    await observe(desired, deps(node));
    expect(node.sv.quadlet.asked).toEqual([['web']]);
  });

  it('asks systemd about the units of files left by apps no longer installed', async () => {
    node = fakeNode();
    node.install('web');
    await reconcilePass(node.sv);
    mkdirSync(join(node.paths.unitRoot, 'gone'), { recursive: true });
    const { readFileSync } = await import('node:fs');
    const ours = readFileSync(join(node.paths.unitRoot, 'web/web.container'), 'utf8').replaceAll('app=web', 'app=gone');
    writeFileSync(join(node.paths.unitRoot, 'gone/gone.container'), ours);
    const { desired } = await currentView(node.sv);
    node.sv.systemctl.verbs.length = 0;
    // A pull left running (to be cleared) is seen in the same show; one collected is not asked for.
    node.sv.systemctl.units['archy-quadlet-pull-web.service'] = unit('active', { subState: 'running' });
    const o = await observe(desired, deps(node));
    expect(node.sv.systemctl.verbs).toEqual(['show', 'show']);
    expect(Object.keys(o.units).sort()).toEqual(['archy-quadlet-pull-web.service', 'gone.service', 'web.service']);
    delete node.sv.systemctl.units['archy-quadlet-pull-web.service'];
    expect(Object.keys((await observe(desired, deps(node))).units).sort()).toEqual(['gone.service', 'web.service']);
    expect(o.files.gone?.map((f) => f.name)).toEqual(['gone.container']);
  });

  it('with a snapshot: a node at rest costs one list-units; what changed since is shown again', async () => {
    node = fakeNode();
    node.install('web');
    node.install('stack');
    await reconcilePass(node.sv);
    // As systemd has it once a container that requires it started (the fake leaves it inactive).
    Object.assign(node.sv.systemctl.units['stack-network.service']!, { activeState: 'active', subState: 'exited' });
    const { desired } = await currentView(node.sv);
    const { m, store } = memoryStore();
    const containers = desired.apps.flatMap((a) => a.rendered!.containers.map((c) => c.service));
    for (const c of containers) m.cids[c] = `${c} 1`;
    const d = { ...deps(node), clock: { ...node.sv.clock, bootId: () => 'boot1' }, unitSnapshot: store };
    const verbs = async () => {
      node.sv.systemctl.verbs.length = 0;
      const o = await observe(desired, d);
      return { verbs: [...node.sv.systemctl.verbs], o };
    };
    // First: listed, then every unit shown (nothing to reuse yet), and the snapshot written.
    const first = await verbs();
    expect(first.verbs).toEqual(['list', 'show']);
    expect(m.writes).toBe(1);
    const all = Object.keys(first.o.units).sort();
    // At rest: one process, nothing written, the same units as a full show gives.
    const rest = await verbs();
    expect(rest.verbs).toEqual(['list']);
    expect(Object.keys(rest.o.units).sort()).toEqual(all);
    expect(rest.o.units).toEqual(first.o.units);
    expect(m.writes).toBe(1);
    // A container restarted by systemd between passes (a new cid file): that one is shown.
    const [restarted] = containers;
    node.sv.systemctl.units[restarted!]!.nRestarts = 1;
    m.cids[restarted!] = `${restarted} 2`;
    const shown: string[][] = [];
    const show = node.sv.systemctl.show.bind(node.sv.systemctl);
    node.sv.systemctl.show = async (names) => {
      shown.push(names);
      return show(names);
    };
    const after = await verbs();
    expect(shown).toEqual([[restarted]]);
    expect(after.o.units[restarted!]!.nRestarts).toBe(1);
    // A daemon-reload by anyone (systemd's generator directory made anew): every unit shown.
    m.stamp = 'gen2';
    shown.length = 0;
    await verbs();
    expect(shown[0]!.filter((n) => !n.includes('*')).sort()).toEqual(all);
  });
});
