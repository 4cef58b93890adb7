import { describe, expect, it } from 'vitest';
import { planSteps } from '../../src/supervise/plan-steps.js';
import { pullUnitOf } from '../../src/supervise/plan-pulls.js';
import { computeStatus } from '../../src/supervise/status.js';
import type { Desired, DesiredApp, Observed, Step } from '../../src/supervise/types.js';
import { app, container, converged, unit } from './fake-systemd.js';

// Pull first (issue 13): a running app's new image is pulled in a transient unit while the old
// version runs; its new unit file waits for the image; a failed pull leaves the old version
// running and is tried again with backoff.

const kinds = (steps: Step[]) => steps.map((s) => s.kind);
const NEW = 'docker.io/library/web:2';
const PULL = pullUnitOf('a-web.service');

/** App a, running on its old unit file, whose manifest now names image :2 (pull: missing). */
function updating(pull = 'missing'): { d: Desired; o: Observed; a: DesiredApp } {
  const a = app('a', 'running', ['web']);
  a.rendered!.containers = [container('a-web', { image: NEW, pull })];
  const d: Desired = { apps: [a] };
  const o = converged(d.apps);
  o.files.a = [{ ...o.files.a![0]!, content: '[Container] a-web with image :1\n' }];
  o.missingImages = [NEW];
  return { d, o, a };
}

describe('pull first: a running app whose new unit names an image not in the store', () => {
  it('pulls it in a transient unit, writes no file and restarts nothing meanwhile', () => {
    const { d, o } = updating();
    const steps = planSteps(d, o);
    expect(steps).toEqual([
      {
        kind: 'pullImage',
        app: 'a',
        unit: PULL,
        image: NEW,
        reason: `new image ${NEW} pulled before the switch (the running version stays up)`,
      },
    ]);
  });

  it('waits while the pull runs, and says updating in status', () => {
    const { d, o } = updating();
    // A transient simple service: active/running while podman pull runs, for passes on end.
    o.units[PULL] = unit('active', { subState: 'running', hookKey: NEW });
    for (let i = 0; i < 3; i++)
      expect(planSteps(d, o)).toEqual([
        { kind: 'wait', app: 'a', unit: PULL, reason: `pulling ${NEW} (the running version stays up meanwhile)` },
      ]);
    const [v] = computeStatus(d, o);
    expect(v).toMatchObject({ state: 'updating', converged: false, pulls: [{ image: NEW, state: 'pulling' }] });
    // Queued or still starting: the same.
    o.units[PULL] = unit('activating', { subState: 'start', hookKey: NEW });
    expect(kinds(planSteps(d, o))).toEqual(['wait']);
  });

  it('once the image is in the store: the file is written (then the usual restart), and the finished pull unit goes', () => {
    const { d, o } = updating();
    o.units[PULL] = unit('active', { subState: 'exited', hookKey: NEW });
    o.missingImages = [];
    // Files first (a batch of its own), then the pull unit is cleared with the app's steps.
    expect(kinds(planSteps(d, o))).toEqual(['writeUnit', 'daemonReload']);
    o.files.a = [{ ...o.files.a![0]!, content: d.apps[0]!.rendered!.files[0]!.content }];
    expect(planSteps(d, o)).toEqual([{ kind: 'stop', app: 'a', units: [PULL], reason: `pulled ${NEW}` }]);
  });

  it('a failed pull: counted, cleared, and the old version stays; Podman’s message in the wait; tried again after the backoff', () => {
    const { d, o } = updating();
    o.units[PULL] = unit('failed', { hookKey: NEW });
    o.pullFailures = { [PULL]: 'Error: initializing source docker://web:2: connection refused' };
    const steps = planSteps(d, o);
    expect(kinds(steps)).toEqual(['setBackoff', 'resetFailed', 'wait']);
    expect(steps[0]).toMatchObject({ unit: PULL, failures: 1, notBeforeMs: o.nowMs + 5000 });
    expect(steps[2]!.reason).toBe(
      `pull of ${NEW} failed (Error: initializing source docker://web:2: connection refused): the running version stays; next try in 5 s`,
    );
    // Cleared: within the backoff it waits; the app's unit is never restarted.
    delete o.units[PULL];
    o.backoff[PULL] = { failures: 1, notBeforeMs: o.nowMs + 3000 };
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: PULL,
        reason: `pull of ${NEW} failed 1 time(s): the running version stays; next try in 3 s`,
      },
    ]);
    const [v] = computeStatus(d, o);
    expect(v).toMatchObject({
      state: 'updating',
      converged: false,
      pulls: [{ image: NEW, state: 'failed', failures: 1, retryInSec: 3 }],
    });
    // Past it: pulled again.
    o.backoff[PULL] = { failures: 1, notBeforeMs: o.nowMs - 1 };
    expect(kinds(planSteps(d, o))).toEqual(['pullImage']);
    // The second failure waits longer.
    o.units[PULL] = unit('failed', { hookKey: NEW });
    expect(planSteps(d, o)[0]).toMatchObject({ kind: 'setBackoff', failures: 2, notBeforeMs: o.nowMs + 10_000 });
  });

  it('the manifest goes back to an image in the store: no pull, its backoff cleared, nothing else', () => {
    const { d, o } = updating();
    o.missingImages = [];
    o.files.a = [{ ...o.files.a![0]!, content: d.apps[0]!.rendered!.files[0]!.content }];
    o.backoff[PULL] = { failures: 3, notBeforeMs: o.nowMs + 60_000 };
    expect(planSteps(d, o)).toEqual([{ kind: 'clearBackoff', app: 'a', unit: PULL, reason: 'no pull pending' }]);
  });

  it('a pull of another image (an older manifest’s) is cleared out of the way first', () => {
    const { d, o } = updating();
    o.units[PULL] = unit('active', { subState: 'running', hookKey: 'docker.io/library/web:1.5' });
    expect(planSteps(d, o)).toEqual([
      { kind: 'stop', app: 'a', units: [PULL], reason: 'clearing a pull of another image' },
    ]);
    // Stopping: waited for, not stopped again.
    o.units[PULL] = unit('deactivating', { subState: 'stop-sigterm', hookKey: 'docker.io/library/web:1.5' });
    expect(planSteps(d, o)).toEqual([
      { kind: 'wait', app: 'a', unit: PULL, reason: 'a pull of another image is stopping' },
    ]);
  });

  it('a new install pulls before its files are written, and plans nothing else for the app meanwhile', () => {
    const { d, o } = updating();
    delete o.files.a;
    delete o.units['a-web.service'];
    expect(kinds(planSteps(d, o))).toEqual(['pullImage']);
  });

  it('does not apply to Pull=never, a stopped app, or an image already in the store', () => {
    const never = updating('never');
    expect(kinds(planSteps(never.d, never.o))).toEqual(['writeUnit', 'daemonReload']);
    const stopped = updating();
    stopped.a.intent = 'stopped';
    expect(kinds(planSteps(stopped.d, stopped.o))).toContain('writeUnit');
    const present = updating();
    present.o.missingImages = [];
    expect(kinds(planSteps(present.d, present.o))).toEqual(['writeUnit', 'daemonReload']);
  });

  it('an app being adopted is left to the adoption (no pull gate)', () => {
    const { d, o, a } = updating();
    a.adoption = { phase: 'starting', containers: [], startedAt: '2026-01-01T00:00:00Z', switchedAtMs: o.nowMs };
    expect(kinds(planSteps(d, o))).toEqual(['writeUnit', 'daemonReload']);
  });

  it('a pull that succeeded while the image is still not found is counted like a failure: never a pull loop', () => {
    const { d, o } = updating();
    o.units[PULL] = unit('active', { subState: 'exited', hookKey: NEW });
    const steps = planSteps(d, o);
    expect(kinds(steps)).toEqual(['setBackoff', 'stop', 'wait']);
    expect(steps[2]!.reason).toBe(
      `pull of ${NEW} failed (pulled, yet not found in the store): the running version stays; next try in 5 s`,
    );
  });

  it('while the files wait: no hook runs in the old container, no config file it mounts is removed', () => {
    const { d, o, a } = updating();
    a.rendered!.version = '2.0';
    a.installedVersion = '1.0';
    a.installedAt = 'T1';
    a.hooksDone = { postUpdate: 'version 1.0' };
    a.rendered!.hooks = [
      {
        point: 'postUpdate',
        unit: 'archy-quadlet-hook-a-post-update.service',
        container: 'a-web',
        service: 'a-web.service',
        argv: ['podman', 'exec', 'a-web', 'migrate'],
        timeoutSec: 60,
      },
    ];
    o.secrets = { 'a-web-tmpl-old': 'a' };
    o.templateInputs = { 'a-web-tmpl-old': 'k' };
    expect(kinds(planSteps(d, o))).toEqual(['pullImage']);
    // Once the image is there and the new file written, the hook runs in the new container.
    o.missingImages = [];
    o.files.a = [{ ...o.files.a![0]!, content: a.rendered!.files[0]!.content }];
    expect(kinds(planSteps(d, o))).toContain('runHook');
    expect(kinds(planSteps(d, o))).toContain('removeRenderedFile');
  });

  it('an app held (a file it did not write, a render Quadlet rejects) pulls nothing', () => {
    const rejected = updating();
    rejected.o.rejectedRenders = { a: 'unsupported key' };
    expect(kinds(planSteps(rejected.d, rejected.o))).not.toContain('pullImage');
    const conflict = updating();
    conflict.o.files.a = [{ ...conflict.o.files.a![0]!, owned: false, intact: false }];
    expect(kinds(planSteps(conflict.d, conflict.o))).toEqual(['wait']);
  });

  it('an app stopped or uninstalled while its pull runs: the pull unit is stopped, its backoff cleared, then forgotten', () => {
    const { d, o, a } = updating();
    a.intent = 'absent';
    o.units['a-web.service'] = unit('inactive');
    o.files = {};
    o.units[PULL] = unit('active', { subState: 'running', hookKey: NEW });
    o.backoff[PULL] = { failures: 2, notBeforeMs: 0 };
    expect(planSteps(d, o)).toEqual([{ kind: 'stop', app: 'a', units: [PULL], reason: 'pull no longer needed' }]);
    o.units[PULL] = unit('failed', { hookKey: NEW });
    expect(kinds(planSteps(d, o))).toEqual(['resetFailed', 'clearBackoff']);
    delete o.units[PULL];
    delete o.backoff[PULL];
    expect(kinds(planSteps(d, o))).toEqual(['forgetApp']);
    const stopped = updating();
    stopped.a.intent = 'stopped';
    stopped.o.files.a = [{ ...stopped.o.files.a![0]!, content: stopped.a.rendered!.files[0]!.content }];
    stopped.o.units['a-web.service'] = unit('inactive');
    stopped.o.units[PULL] = unit('failed', { hookKey: NEW });
    expect(kinds(planSteps(stopped.d, stopped.o))).toEqual(['resetFailed']);
  });

  it('a pull still running when the manifest turns to pull: never (or back to an image in the store) is stopped', () => {
    const { d, o } = updating('never');
    o.files.a = [{ ...o.files.a![0]!, content: d.apps[0]!.rendered!.files[0]!.content }];
    o.units[PULL] = unit('active', { subState: 'running', hookKey: NEW });
    expect(planSteps(d, o)).toEqual([{ kind: 'stop', app: 'a', units: [PULL], reason: 'pull no longer needed' }]);
  });
});
