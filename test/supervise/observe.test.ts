import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { observe } from '../../src/supervise/observe.js';
import { currentView, reconcilePass } from '../../src/supervise/supervisor.js';
import { fakeNode, type FakeNode } from './fake-adapters.js';
import { unit } from './fake-systemd.js';

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
});
