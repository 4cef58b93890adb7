import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { appsToCheck, BACKOFF, needsPodman, planSteps } from '../../src/supervise/plan-steps.js';
import type { Desired, Observed, Step } from '../../src/supervise/types.js';
import { app, applyFake, converged, file, observed, S, unit } from './fake-systemd.js';

const kinds = (steps: Step[]) => steps.map((s) => s.kind);
const one = (id: string, intent: 'running' | 'stopped' | 'absent' = 'running', cs = ['web']) => app(id, intent, cs);

describe('planSteps: table', () => {
  it('plans nothing for a converged node', () => {
    const d: Desired = { apps: [one('a'), app('b', 'running', ['db', 'api']), one('c', 'stopped')] };
    expect(planSteps(d, converged(d.apps))).toEqual([]);
  });

  it('writes a missing unit file, then one daemon-reload, and nothing else in that batch', () => {
    const d: Desired = { apps: [app('b', 'running', ['db', 'api'])] };
    const o = converged(d.apps);
    o.files.b = o.files.b!.filter((f) => f.name !== 'b-api.container');
    o.units['b-db.service'] = unit('inactive');
    const steps = planSteps(d, o);
    expect(kinds(steps)).toEqual(['writeUnit', 'daemonReload']);
    expect(steps[0]).toMatchObject({ app: 'b', path: 'b/b-api.container', reason: 'unit file missing' });
  });

  it('restores a unit file edited by hand, saying so', () => {
    const d: Desired = { apps: [one('a')] };
    const o = converged(d.apps);
    o.files.a![0] = { ...o.files.a![0]!, content: 'edited', intact: false };
    expect(planSteps(d, o)[0]).toMatchObject({ kind: 'writeUnit', reason: 'unit file edited by hand' });
  });

  it('never touches a file it does not own', () => {
    const d: Desired = { apps: [one('a')] };
    const o = converged(d.apps);
    o.files.a!.push({ ...file('theirs.container', 'foreign'), owned: false, intact: false });
    expect(planSteps(d, o)).toEqual([]);
  });

  it('holds an app whose unit name is taken by a file it did not write: a wait naming the file, never a start or a write', () => {
    const d: Desired = { apps: [app('b', 'running', ['db', 'api'])] };
    const o = converged(d.apps, 'inactive');
    // Someone else's b-api.container, and our b-db.container missing: neither written nor started.
    o.files.b = o.files
      .b!.filter((f) => f.name !== 'b-db.container')
      .map((f) => (f.name === 'b-api.container' ? { ...f, content: 'theirs', owned: false, intact: false } : f));
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'wait',
        app: 'b',
        path: 'b/b-api.container',
        held: true,
        reason:
          'b/b-api.container in the unit directory was not written by archy-quadlet: move it away (the app is held)',
      },
    ]);
    // Another app goes on as usual.
    const both: Desired = { apps: [...d.apps, one('a')] };
    const o2 = {
      ...o,
      files: { ...o.files, ...converged([one('a')]).files },
      units: { ...o.units, 'a-web.service': unit('inactive') },
    };
    expect(planSteps(both, o2).filter((s) => s.app === 'a')).toEqual([
      { kind: 'start', app: 'a', units: ['a-web.service'], reason: 'app should be running' },
    ]);
  });

  it('uninstalling an app never stops or removes a unit generated from a file it did not write', () => {
    const d: Desired = { apps: [app('b', 'absent', ['db', 'api'])] };
    const o = converged(d.apps);
    o.units['b-api.service'] = unit('active');
    o.units['b-db.service'] = unit('active');
    o.files.b = o.files.b!.map((f) =>
      f.name === 'b-api.container' ? { ...f, content: 'theirs', owned: false, intact: false } : f,
    );
    const steps = planSteps(d, o);
    expect(steps.filter((s) => s.kind === 'stop')).toEqual([
      { kind: 'stop', app: 'b', units: ['b-db.service', 'b-network.service'], reason: 'app uninstalled' },
    ]);
    // Once ours are stopped: our files go, theirs stays (and its unit keeps running).
    o.units['b-db.service'] = unit('inactive');
    o.units['b-network.service'] = unit('inactive');
    const removes = planSteps(d, o).filter((s) => s.kind === 'removeUnit');
    expect(removes.map((s) => (s as { path: string }).path).sort()).toEqual(['b/b-db.container', 'b/b.network']);
  });

  it('keeps the last good units of an app whose new units Quadlet rejects, waits with its message, and still runs the app', () => {
    const d: Desired = { apps: [one('a')] };
    const o = converged(d.apps, 'failed');
    const good = o.files.a![0]!;
    o.files.a = [{ ...good, content: 'the last good units' }];
    o.rejectedRenders = { a: "converting \"a-web.container\": unsupported key 'Frobnicate' in group 'Container'" };
    const steps = planSteps(d, o);
    expect(steps.some((s) => s.kind === 'writeUnit' || s.kind === 'daemonReload')).toBe(false);
    expect(steps[0]).toEqual({
      kind: 'wait',
      app: 'a',
      held: true,
      reason: `Quadlet rejects the new units (its last good units stay): ${o.rejectedRenders.a}`,
    });
    expect(kinds(steps)).toEqual(['wait', 'setBackoff', 'resetFailed', 'start']);
    // Once the rendering is accepted again, the files are written.
    delete o.rejectedRenders;
    expect(kinds(planSteps(d, o))).toEqual(['writeUnit', 'daemonReload']);
  });

  it('asks the generator only about apps whose files it would write', () => {
    const d: Desired = { apps: [one('a'), one('b'), one('c'), one('gone', 'absent')] };
    const o = converged(d.apps);
    o.files.a = [{ ...o.files.a![0]!, content: 'old' }];
    o.files.c = [{ ...o.files.c![0]!, owned: false }]; // conflict: nothing written
    expect(appsToCheck(d, o.files).map((x) => x.id)).toEqual(['a']);
  });

  it('reloads when systemd says a loaded unit is outdated', () => {
    const d: Desired = { apps: [one('a')] };
    const o = converged(d.apps);
    o.units['a-web.service']!.needDaemonReload = true;
    expect(planSteps(d, o)).toEqual([
      { kind: 'daemonReload', reason: 'systemd holds outdated definitions of a-web.service' },
    ]);
  });

  it('plans the other apps when a reload in this pass left a unit outdated (one app must not starve the node)', () => {
    const d: Desired = { apps: [one('a'), one('b')] };
    const o = converged(d.apps);
    o.units['a-web.service']!.needDaemonReload = true;
    o.units['b-web.service'] = unit('failed');
    expect(kinds(planSteps(d, o))).toEqual(['daemonReload']);
    o.reloadFruitless = true;
    const steps = planSteps(d, o);
    expect(steps.some((s) => s.kind === 'daemonReload')).toBe(false);
    expect(steps.filter((s) => s.kind === 'start').map((s) => s.app)).toEqual(['b']);
  });

  it('reloads when systemd lost a reload (Quadlet generates the unit, systemd does not know it), not when Quadlet rejects the file', () => {
    const d: Desired = { apps: [one('a')] };
    const o = converged(d.apps);
    o.units['a-web.service'] = unit('inactive', { loadState: 'not-found' });
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-web.service',
        reason: 'a-web.service is not known to systemd (did the Quadlet generator reject its file?)',
      },
    ]);
    o.generatedNow = { 'a-web.service': true };
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'daemonReload',
        reason: 'systemd has not loaded a-web.service, which Quadlet generates from the files on disk',
      },
    ]);
    o.generatedNow = { 'a-web.service': false };
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-web.service',
        reason: 'Quadlet generates no a-web.service from its file (archy-quadlet explain a says why)',
      },
    ]);
  });

  it('starts the containers of a running app in dependency order, in one step', () => {
    const d: Desired = { apps: [app('b', 'running', ['db', 'api'])] };
    const o = converged(d.apps, 'inactive');
    expect(planSteps(d, o)).toEqual([
      { kind: 'start', app: 'b', units: ['b-db.service', 'b-api.service'], reason: 'app should be running' },
    ]);
  });

  it('creates a missing secret first, and starts in the next batch (its id is rendered into the units)', () => {
    const a = one('a');
    a.rendered!.secrets = [{ name: 'a-pw', key: 'pw', length: 32, alphabet: 'hex' }];
    const o = converged([a], 'inactive');
    delete o.secrets!['a-pw'];
    expect(planSteps({ apps: [a] }, o)).toEqual([
      expect.objectContaining({ kind: 'ensureSecret', secret: 'a-pw' }),
      { kind: 'wait', app: 'a', unit: 'a-web.service', reason: 'its secrets are being created first' },
    ]);
    o.secrets!['a-pw'] = 'a';
    expect(kinds(planSteps({ apps: [a] }, o))).toEqual(['start']);
  });

  it('restarts a failed unit with backoff, and waits while the backoff runs', () => {
    const d: Desired = { apps: [one('a')] };
    const o = converged(d.apps, 'failed');
    const steps = planSteps(d, o);
    expect(kinds(steps)).toEqual(['setBackoff', 'resetFailed', 'start']);
    expect(steps[0]).toMatchObject({ failures: 1, notBeforeMs: o.nowMs + BACKOFF.baseSec * 1000 });
    o.backoff['a-web.service'] = { failures: 3, notBeforeMs: o.nowMs + 7 * 1000 };
    expect(planSteps(d, o)).toEqual([
      { kind: 'wait', app: 'a', unit: 'a-web.service', reason: 'backing off after 3 failure(s): next start in 7 s' },
    ]);
    o.backoff['a-web.service'] = { failures: 3, notBeforeMs: o.nowMs - 1 };
    expect(planSteps(d, o)[0]).toMatchObject({
      kind: 'setBackoff',
      failures: 4,
      notBeforeMs: o.nowMs + 8 * BACKOFF.baseSec * 1000,
    });
  });

  it('caps the backoff, and forgets it after a healthy minute', () => {
    const d: Desired = { apps: [one('a')] };
    const o = converged(d.apps, 'failed');
    o.backoff['a-web.service'] = { failures: 30, notBeforeMs: 0 };
    expect(planSteps(d, o)[0]).toMatchObject({ notBeforeMs: o.nowMs + BACKOFF.capSec * 1000 });
    const healthy = converged(d.apps);
    healthy.backoff['a-web.service'] = { failures: 2, notBeforeMs: 0 };
    healthy.units['a-web.service']!.activeEnterMono = healthy.nowMono - 61 * S;
    expect(kinds(planSteps(d, healthy))).toEqual(['clearBackoff']);
    healthy.units['a-web.service']!.activeEnterMono = healthy.nowMono - 10 * S;
    expect(planSteps(d, healthy)).toEqual([]);
  });

  it('restarts only the units whose file changed after they started', () => {
    const d: Desired = { apps: [app('b', 'running', ['db', 'api'])] };
    const o = converged(d.apps);
    o.files.b!.find((f) => f.name === 'b-api.container')!.mtimeMono = 200 * S; // started at 100 s
    expect(planSteps(d, o)).toEqual([
      { kind: 'restart', app: 'b', units: ['b-api.service'], reason: 'unit file changed since it started' },
    ]);
  });

  it('restarts a unit started after its file was written but before the reload of ours that loaded it', () => {
    const d: Desired = { apps: [app('b', 'running', ['db', 'api'])] };
    // b-api.container written at 90 s, reloaded at 110 s; its process started at 100 s, in
    // between (a crash restart, a start at boot): it runs the definition from before.
    const o = converged(d.apps);
    o.files.b!.find((f) => f.name === 'b-api.container')!.mtimeMono = 90 * S;
    o.reloads = { completeFrom: 80 * S, marks: [60 * S, 110 * S] };
    expect(planSteps(d, o)).toEqual([
      { kind: 'restart', app: 'b', units: ['b-api.service'], reason: 'unit file changed since it started' },
    ]);
    // Started after the reload, or before the write: as it was.
    o.reloads = { completeFrom: 80 * S, marks: [95 * S] };
    expect(planSteps(d, o)).toEqual([]);
    // A file written before the list is complete from (an older archy-quadlet's reload, or one
    // no longer kept, may have loaded it): nothing tells, so no restart.
    o.reloads = { completeFrom: 95 * S, marks: [110 * S] };
    expect(planSteps(d, o)).toEqual([]);
    // No reload of ours since the write: its reload is still to come, not a restart.
    o.reloads = { completeFrom: 80 * S, marks: [] };
    expect(planSteps(d, o)).toEqual([]);
  });

  it('restarts on request until every unit has started after the request', () => {
    const o = converged([one('a')]);
    const startedAtMs = o.nowMs - (o.nowMono - 100 * S) / 1000;
    expect(
      kinds(
        planSteps(
          { apps: [one('a', 'running', ['web'])].map((a) => ({ ...a, restartRequestedAt: startedAtMs + 1 })) },
          o,
        ),
      ),
    ).toEqual(['restart']);
    expect(planSteps({ apps: [{ ...one('a'), restartRequestedAt: startedAtMs - 1 }] }, o)).toEqual([]);
  });

  it('reports transitional states as waits', () => {
    const d: Desired = { apps: [app('b', 'running', ['db', 'api'])] };
    const o = converged(d.apps);
    o.units['b-db.service'] = unit('activating', { subState: 'start' });
    o.units['b-api.service'] = unit('activating', { subState: 'auto-restart' });
    expect(planSteps(d, o).map((s) => s.reason)).toEqual(['starting', 'restarting after a crash']);
  });

  it('stops a stopped app (dependents first), and stops a still-starting one through its container', () => {
    const d: Desired = { apps: [app('b', 'stopped', ['db', 'api'])] };
    const o = converged(d.apps);
    o.units['b-db.service'] = unit('active');
    o.units['b-api.service'] = unit('activating', { subState: 'start' });
    expect(planSteps(d, o)).toEqual([
      { kind: 'stop', app: 'b', units: ['b-api.service', 'b-db.service'], reason: 'app should be stopped' },
      {
        kind: 'stopContainer',
        app: 'b',
        container: 'b-api',
        timeoutSec: 10,
        reason: 'stopping while still starting (health check not passed yet)',
      },
    ]);
  });

  it('clears a failure of a stopped app, and waits while it stops', () => {
    const d: Desired = { apps: [app('b', 'stopped', ['db', 'api'])] };
    const o = converged(d.apps);
    o.units['b-db.service'] = unit('failed');
    o.units['b-api.service'] = unit('deactivating');
    expect(kinds(planSteps(d, o))).toEqual(['wait', 'resetFailed']);
  });

  it('holds the files of an app whose manifest is unusable, but still follows its intent', () => {
    const a = one('a', 'stopped');
    const o = converged([a]);
    o.units['a-web.service'] = unit('active');
    o.files.a![0] = { ...o.files.a![0]!, content: 'from an older manifest' };
    const { rendered: _r, ...rest } = a;
    const held = { ...rest, error: 'manifest invalid' };
    expect(planSteps({ apps: [held] }, o)).toEqual([
      { kind: 'stop', app: 'a', units: ['a-web.service'], reason: 'app should be stopped' },
    ]);
  });

  it('uninstalls: stop, then remove files and reload, then forget (keeping volumes and secrets)', () => {
    const a = app('b', 'absent', ['db', 'api']);
    const o = converged([{ ...a, intent: 'running' }]);
    o.volumes = { 'b-data': 'b' };
    o.secrets = { 'b-pw': 'b' };
    expect(planSteps({ apps: [a] }, o)[0]).toEqual({
      kind: 'stop',
      app: 'b',
      units: ['b-api.service', 'b-db.service', 'b-network.service'],
      reason: 'app uninstalled',
    });
    for (const s of Object.values(o.units)) s.activeState = 'inactive';
    expect(kinds(planSteps({ apps: [a] }, o))).toEqual(['removeUnit', 'removeUnit', 'removeUnit', 'daemonReload']);
    o.files = {};
    expect(planSteps({ apps: [a] }, o)).toEqual([
      { kind: 'forgetApp', app: 'b', reason: 'uninstalled (volumes and secrets kept)' },
    ]);
    expect(kinds(planSteps({ apps: [{ ...a, purge: true }] }, o))).toEqual(['removeVolume', 'removeSecret']);
    o.containers = {
      'b-api': { app: 'b', state: 'exited', ports: [] },
      'other-api': { app: 'other', state: 'exited', ports: [] },
      'b-x': { state: 'running', ports: [] },
    };
    o.networks = { b: 'b', other: 'other' };
    o.images = { '0123abcd': 'b', '4567ef01': 'other' };
    expect(kinds(planSteps({ apps: [a] }, o))).toEqual(['removeContainer']); // containers before what they use
    delete o.containers!['b-api'];
    expect(planSteps({ apps: [a] }, o)).toEqual([
      { kind: 'removeNetwork', app: 'b', network: 'b', reason: 'network of an uninstalled app' },
      { kind: 'removeImage', app: 'b', image: '0123abcd', reason: 'image built for an uninstalled app' },
    ]);
    o.networks = {};
    o.images = {};
    expect(kinds(planSteps({ apps: [a] }, o))).toEqual(['forgetApp']);
  });

  it('removes the units of an app that is not installed, without touching state', () => {
    const o = converged([one('gone')]);
    expect(kinds(planSteps({ apps: [] }, o))).toEqual(['stop']);
    o.units['gone-web.service']!.activeState = 'inactive';
    expect(kinds(planSteps({ apps: [] }, o))).toEqual(['removeUnit', 'daemonReload']);
    expect(planSteps({ apps: [] }, observed())).toEqual([]);
  });
});

// Convergence: from any reachable state, the planner driving a fake systemd reaches a fixed
// point within a few passes, and that fixed point is what the intents say.
const activeStates = fc.constantFrom('active', 'inactive', 'failed', 'activating', 'deactivating');
const intents = fc.constantFrom('running' as const, 'stopped' as const, 'absent' as const);

describe('planSteps: something in the way of a start', () => {
  const d: Desired = { apps: [one('a')] };
  const stopped = () => {
    const o = converged(d.apps);
    o.units['a-web.service'] = unit('inactive');
    return o;
  };

  it('stops a running container of ours left from an older run, removes it once stopped, then waits for its port', () => {
    const o = stopped();
    o.containers = {
      'a-web': {
        app: 'a',
        state: 'running',
        ports: [{ hostIp: '127.0.0.1', hostPort: 18081, protocol: 'tcp', range: 1 }],
      },
    };
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'clearStaleContainer',
        app: 'a',
        unit: 'a-web.service',
        container: 'a-web',
        running: true,
        timeoutSec: 10,
        reason: 'a container of an older run (running) holds the name a-web: stopping it',
      },
    ]);
    o.containers['a-web']!.state = 'stopping'; // asked once: waited for, not asked again
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-web.service',
        reason: 'a container of an older run holds the name a-web: stopping',
      },
    ]);
    o.containers['a-web']!.state = 'exited';
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'clearStaleContainer',
        app: 'a',
        unit: 'a-web.service',
        container: 'a-web',
        running: false,
        timeoutSec: 10,
        reason: 'a container of an older run (exited) holds the name a-web: removing it',
      },
    ]);
    delete o.containers['a-web'];
    const withPort: Desired = {
      apps: [
        {
          ...d.apps[0]!,
          rendered: {
            ...d.apps[0]!.rendered!,
            containers: [
              {
                ...d.apps[0]!.rendered!.containers[0]!,
                hostPorts: [{ hostIp: '127.0.0.1', hostPort: 18081, protocol: 'tcp', range: 1 }],
              },
            ],
          },
        },
      ],
    };
    o.busyPorts = ['127.0.0.1:18081/tcp'];
    expect(planSteps(withPort, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-web.service',
        reason: 'host port 127.0.0.1:18081/tcp in use: starting once it is free',
      },
    ]);
    o.busyPorts = [];
    expect(kinds(planSteps(withPort, o))).toEqual(['start']);
  });

  it('clears a stale container before the restart of a failed unit (no backoff counted for it yet)', () => {
    const o = stopped();
    o.units['a-web.service'] = unit('failed');
    o.containers = { 'a-web': { app: 'a', state: 'created', ports: [] } };
    expect(kinds(planSteps(d, o))).toEqual(['clearStaleContainer']);
    delete o.containers['a-web'];
    expect(kinds(planSteps(d, o))).toEqual(['setBackoff', 'resetFailed', 'start']);
  });

  it('never touches a container it does not own: the unit waits, saying why', () => {
    const o = stopped();
    o.containers = { 'a-web': { state: 'running', ports: [] } };
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-web.service',
        reason: 'a container named a-web is in the way (archy-quadlet does not own it): remove or rename it',
      },
    ]);
    o.containers = { 'a-web': { app: 'b', state: 'exited', ports: [] } };
    expect(planSteps(d, o)[0]).toMatchObject({
      kind: 'wait',
      reason: 'a container named a-web is in the way (app b): remove or rename it',
    });
  });

  it("leaves the unit's own container alone while it starts or runs", () => {
    for (const state of ['activating', 'active']) {
      const o = converged(d.apps);
      o.units['a-web.service'] = unit(state);
      o.containers = { 'a-web': { app: 'a', state: 'running', ports: [] } };
      expect(kinds(planSteps(d, o)).filter((k) => k !== 'wait')).toEqual([]);
    }
  });
});

describe('needsPodman: Podman is asked only when a plan can use it', () => {
  it('not for a converged node, nor for an uninstall whose units still stop or whose files are still there', () => {
    const running = app('a', 'running', ['web']);
    const o = converged([running]);
    expect(needsPodman({ apps: [running] }, o.units, o.files)).toBe(false);
    const absent = { ...running, intent: 'absent' as const };
    expect(needsPodman({ apps: [absent] }, o.units, o.files)).toBe(false); // still up
    o.units['a-web.service']!.activeState = 'inactive';
    expect(needsPodman({ apps: [absent] }, o.units, o.files)).toBe(false); // files still there
    o.files = {};
    expect(needsPodman({ apps: [absent] }, o.units, o.files)).toBe(true); // leftovers: containers, network, images
    o.units['a-web.service']!.activeState = 'activating';
    expect(needsPodman({ apps: [running] }, o.units, o.files)).toBe(true); // starting: its secrets
  });
});

describe('planSteps: convergence', () => {
  it('reaches a fixed point that matches every intent, from random states', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            intent: intents,
            states: fc.array(activeStates, { minLength: 1, maxLength: 3 }),
            missing: fc.boolean(),
            edited: fc.boolean(),
            reload: fc.boolean(),
            purge: fc.boolean(),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (specs) => {
          const apps = specs.map((s, i) => ({
            ...app(
              `app${i}`,
              s.intent,
              s.states.map((_, j) => `c${j}`),
            ),
            purge: s.purge,
          }));
          let desired: Desired = { apps };
          let o: Observed = converged(apps.map((a) => ({ ...a, intent: 'running' as const })));
          specs.forEach((s, i) => {
            s.states.forEach((st, j) => (o.units[`app${i}-c${j}.service`] = unit(st)));
            if (s.missing) o.files[`app${i}`] = o.files[`app${i}`]!.slice(1);
            if (s.edited && o.files[`app${i}`]!.length > 0)
              o.files[`app${i}`]![0] = { ...o.files[`app${i}`]![0]!, content: 'x', intact: false };
            if (s.reload) o.units[`app${i}-c0.service`]!.needDaemonReload = true;
          });
          let passes = 0;
          for (; passes < 40; passes++) {
            const steps = planSteps(desired, o);
            if (steps.length === 0) break;
            ({ desired, observed: o } = applyFake(desired, o, steps));
          }
          expect(passes).toBeLessThan(40);
          expect(planSteps(desired, o)).toEqual([]);
          specs.forEach((s, i) => {
            const services = s.states.map((_, j) => `app${i}-c${j}.service`);
            if (s.intent === 'running') for (const svc of services) expect(o.units[svc]?.activeState).toBe('active');
            if (s.intent === 'stopped') for (const svc of services) expect(o.units[svc]?.activeState).toBe('inactive');
            if (s.intent === 'absent') {
              expect(o.files[`app${i}`] ?? []).toEqual([]);
              for (const svc of services) expect(o.units[svc]?.activeState ?? 'inactive').toBe('inactive');
              expect(desired.apps.some((a) => a.id === `app${i}`)).toBe(false);
            }
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});
