import { describe, expect, it } from 'vitest';
import { needsPodman, planSteps } from '../../src/supervise/plan-steps.js';
import { ADOPT_DEADLINE_GRACE_SEC } from '../../src/supervise/plan-adoption.js';
import { computeStatus } from '../../src/supervise/status.js';
import type { Adoption, Desired, DesiredApp, Observed, ObservedContainer, Step } from '../../src/supervise/types.js';
import { app, converged, observed, S, unit } from './fake-systemd.js';

// The planner's side of `archy-quadlet adopt` (plan-adoption.ts), pure: which step each phase
// takes, from what Podman and systemd say, so that every pass (after a kill -9, after a reboot)
// goes on from where things are.

const kinds = (steps: Step[]) => steps.map((s) => s.kind);
const old = (state: string, extra: Partial<ObservedContainer> = {}): ObservedContainer => ({
  state,
  ports: [],
  ...extra,
});

function adopting(
  phase: Adoption['phase'],
  extra: Partial<DesiredApp> = {},
  adoption: Partial<Adoption> = {},
): DesiredApp {
  return app('k', 'running', ['web'], {
    adoption: {
      phase,
      startedAt: '2026-12-04T00:00:00.000Z',
      containers: [
        {
          name: 'k-web',
          aside: 'k-web.pre-adoption',
          restartPolicy: 'unless-stopped',
          wasRunning: true,
          stopTimeoutSec: 30,
        },
      ],
      ...adoption,
    },
    ...extra,
  });
}

/** A node where the app's units are not there yet (no file, unknown to systemd). */
function bare(containers: Record<string, ObservedContainer>): Observed {
  return observed({ containers, units: { 'k-web.service': unit('inactive', { loadState: 'not-found' }) } });
}

describe('adoption: retiring the old containers', () => {
  it('stops a running old container (restart policy no first), and writes no unit file meanwhile', () => {
    const d: Desired = { apps: [adopting('retiring')] };
    const steps = planSteps(d, bare({ 'k-web': old('running') }));
    expect(steps).toEqual([
      {
        kind: 'retireContainer',
        app: 'k',
        container: 'k-web',
        aside: 'k-web.pre-adoption',
        running: true,
        timeoutSec: 30,
        reason: 'adopting: stopping the old container k-web (restart policy no first)',
      },
    ]);
  });

  it('waits while it stops, renames it aside once stopped, then lets the units take over', () => {
    const d: Desired = { apps: [adopting('retiring')] };
    expect(planSteps(d, bare({ 'k-web': old('stopping') }))).toEqual([
      { kind: 'wait', app: 'k', reason: 'the old container k-web is stopping (up to 30 s)' },
    ]);
    expect(planSteps(d, bare({ 'k-web': old('exited') }))[0]).toMatchObject({
      kind: 'retireContainer',
      running: false,
    });
    expect(kinds(planSteps(d, bare({ 'k-web.pre-adoption': old('exited') })))).toEqual(['adoptSwitch']);
  });

  it('asks Podman on every pass while an adoption is in flight, and waits when it was not asked', () => {
    const d: Desired = { apps: [adopting('retiring')] };
    expect(needsPodman(d, {})).toBe(true);
    const unasked = observed({ units: {} });
    delete unasked.containers;
    expect(planSteps(d, unasked)).toEqual([{ kind: 'wait', app: 'k', reason: 'looking at the old containers' }]);
    // Rolled back: nothing left, no Podman.
    expect(needsPodman({ apps: [adopting('rolledBack', { intent: 'absent' })] }, {})).toBe(false);
  });

  it('never removes unit files of another app while retiring, nor writes its own', () => {
    const d: Desired = { apps: [adopting('retiring')] };
    const o = bare({ 'k-web': old('running') });
    expect(planSteps(d, o).some((s) => s.kind === 'writeUnit' || s.kind === 'daemonReload')).toBe(false);
  });
});

describe('adoption: the units start, health-gated', () => {
  const started = (extra: Parameters<typeof unit>[1] = {}, state = 'active') => {
    const a = adopting('starting', {}, { switchedAtMs: 1_000_000 });
    const o = converged([a], state);
    o.nowMs = 1_000_000 + 10_000;
    o.nowMono = 110 * S;
    o.units['k-web.service'] = unit(state, extra);
    o.containers = { 'k-web': old('running', { app: 'k' }), 'k-web.pre-adoption': old('exited') };
    return { d: { apps: [a] } as Desired, o };
  };

  it('writes the units first, then starts them', () => {
    const a = adopting('starting', {}, { switchedAtMs: 1_000_000 });
    const o = observed({ nowMs: 1_000_500, containers: { 'k-web.pre-adoption': old('exited') } });
    expect(kinds(planSteps({ apps: [a] }, o))).toEqual(['writeUnit', 'daemonReload']);
    const loaded = converged([a], 'inactive');
    loaded.nowMs = 1_000_500;
    loaded.containers = { 'k-web.pre-adoption': old('exited') };
    expect(kinds(planSteps({ apps: [a] }, loaded))).toEqual(['start']);
  });

  it('once healthy: removes the old container (never its volumes), then records the adoption done', () => {
    const { d, o } = started();
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'removeContainer',
        app: 'k',
        container: 'k-web.pre-adoption',
        reason: 'adopted: the units are healthy; the old container k-web goes (its volumes stay)',
      },
    ]);
    delete o.containers!['k-web.pre-adoption'];
    expect(kinds(planSteps(d, o))).toEqual(['adoptDone']);
  });

  it('waits while a unit is still starting within its start timeout', () => {
    const { d, o } = started({ subState: 'start', execMainStartMono: 100 * S }, 'activating');
    expect(kinds(planSteps(d, o))).toEqual(['wait']);
  });

  it.each([
    ['failed', { result: 'protocol' }, 'failed', 'did not become ready'],
    [
      'crash-looping',
      { subState: 'auto-restart', result: 'exit-code', execMainStatus: 2 },
      'activating',
      'exited with status 2, and was restarted by systemd',
    ],
    ['restarted once', { nRestarts: 1, result: 'success' }, 'active', 'restarted by systemd'],
    [
      'past its start timeout',
      { subState: 'start', execMainStartMono: 100 * S - 61 * S },
      'activating',
      'not healthy within its start timeout (60 s)',
    ],
  ] as const)('rolls back a unit %s, saying why', (_what, extra, state, why) => {
    const { d, o } = started(extra, state);
    const steps = planSteps(d, o);
    expect(kinds(steps)).toEqual(['adoptRollBack']);
    expect((steps[0] as { why: string }).why).toContain(why);
  });

  it('rolls back when something holds the app (a unit file someone else wrote)', () => {
    const { d, o } = started({}, 'inactive');
    o.files.k = o.files.k!.map((f) => ({ ...f, owned: false, intact: false }));
    const steps = planSteps(d, o);
    expect(kinds(steps)).toEqual(['adoptRollBack']);
    expect((steps[0] as { why: string }).why).toMatch(/not written by archy-quadlet/);
  });

  it('rolls back units that never settle, on the wall clock (which a reboot keeps)', () => {
    const { d, o } = started({ loadState: 'not-found' }, 'inactive');
    o.nowMs = 1_000_000 + (60 + ADOPT_DEADLINE_GRACE_SEC + 1) * 1000;
    expect(kinds(planSteps(d, o))).toEqual(['adoptRollBack']);
  });

  it('never rolls back healthy units for time: past the deadline (a reboot, a clock jump) they are adopted', () => {
    const { d, o } = started();
    o.nowMs = 1_000_000 + (60 + ADOPT_DEADLINE_GRACE_SEC + 600) * 1000;
    expect(kinds(planSteps(d, o))).toEqual(['removeContainer']);
  });

  it('adopts a stopped old container stopped: units loaded, not started', () => {
    const a = adopting('starting', { intent: 'stopped' }, { switchedAtMs: 1_000_000 });
    const o = converged([a]);
    o.nowMs = 1_000_500;
    o.containers = { 'k-web.pre-adoption': old('exited') };
    expect(kinds(planSteps({ apps: [a] }, o))).toEqual(['removeContainer']);
  });

  it('says adopting in status until it is done', () => {
    const { d, o } = started({ subState: 'start' }, 'activating');
    const [view] = computeStatus(d, o);
    expect(view).toMatchObject({ state: 'adopting', converged: false, adoption: { phase: 'starting' } });
  });
});

describe('adoption: rolling back', () => {
  const rolling = () => {
    const a = adopting('rollingBack', {}, { reason: 'k-web.service failed' });
    return { a, d: { apps: [a] } as Desired };
  };

  it('stops the units, then removes their files, then returns the old container', () => {
    const { a, d } = rolling();
    const o = converged([a]);
    o.containers = { 'k-web': old('running', { app: 'k' }), 'k-web.pre-adoption': old('exited') };
    expect(kinds(planSteps(d, o))).toEqual(['stop']);
    o.units['k-web.service'] = unit('inactive');
    expect(kinds(planSteps(d, o))).toEqual(['removeUnit', 'daemonReload']);
    o.files = {};
    o.units = { 'k-web.service': unit('inactive', { loadState: 'not-found' }) };
    // The unit's container, if left, goes first; then the old one returns under its name.
    expect(kinds(planSteps(d, o))).toEqual(['removeContainer']);
    delete o.containers['k-web'];
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'restoreContainer',
        app: 'k',
        container: 'k-web',
        aside: 'k-web.pre-adoption',
        restartPolicy: 'unless-stopped',
        start: true,
        reason: 'rolling back: the old container k-web returns, started',
      },
    ]);
    o.containers = { 'k-web': old('running') };
    expect(kinds(planSteps(d, o))).toEqual(['adoptRolledBack']);
  });

  it('returns an old container stopped, so that it starts under its own name (its name in the DNS is given at start)', () => {
    const { d } = rolling();
    // Started again by someone under its aside name: stopped first, then renamed and started.
    const o = bare({ 'k-web.pre-adoption': old('running') });
    expect(planSteps(d, o)).toMatchObject([{ kind: 'stopContainer', container: 'k-web.pre-adoption', timeoutSec: 30 }]);
    o.containers = { 'k-web.pre-adoption': old('stopping') };
    expect(planSteps(d, o)).toMatchObject([{ kind: 'wait', reason: expect.stringMatching(/stopping/) }]);
    o.containers = { 'k-web.pre-adoption': old('exited') };
    expect(planSteps(d, o)).toMatchObject([{ kind: 'restoreContainer', aside: 'k-web.pre-adoption', start: true }]);
  });

  it('after a kill between the rename and the start, starts the old container under its name, then is done', () => {
    const { d } = rolling();
    const o = bare({ 'k-web': old('exited') });
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'restoreContainer',
        app: 'k',
        container: 'k-web',
        restartPolicy: 'unless-stopped',
        start: true,
        reason: 'rolling back: the old container k-web is back under its name: starting it',
      },
    ]);
    o.containers = { 'k-web': old('running') };
    expect(kinds(planSteps(d, o))).toEqual(['adoptRolledBack']);
    // Started by the rollback, then exited on its own (a restart policy `no`): not started at
    // every pass, which would keep the rollback from ending.
    d.apps[0]!.adoption!.containers[0]!.restarted = true;
    o.containers = { 'k-web': old('exited') };
    expect(kinds(planSteps(d, o))).toEqual(['adoptRolledBack']);
    // One that was not running stays stopped.
    const stopped = adopting('rollingBack');
    stopped.adoption!.containers[0]!.wasRunning = false;
    expect(kinds(planSteps({ apps: [stopped] }, bare({ 'k-web': old('exited') })))).toEqual(['adoptRolledBack']);
  });

  it('never takes a name from a container that is not ours: held, naming it', () => {
    const { d } = rolling();
    const o = bare({ 'k-web': old('running'), 'k-web.pre-adoption': old('exited') });
    const [step] = planSteps(d, o);
    expect(step).toMatchObject({ kind: 'wait', held: true });
  });

  it('rolled back: nothing more, the record kept, status says why', () => {
    const a = adopting('rolledBack', { intent: 'absent' }, { reason: 'k-web.service failed' });
    const o = observed({ units: {} });
    expect(planSteps({ apps: [a] }, o)).toEqual([]);
    const [view] = computeStatus({ apps: [a] }, o);
    expect(view).toMatchObject({ state: 'not-adopted', converged: true, adoption: { reason: 'k-web.service failed' } });
  });
});

describe('adopted apps afterwards', () => {
  it('never generates an imported secret anew: held, saying how to put it back', () => {
    const a = app('k', 'running', ['web'], { importedSecrets: ['k-token'] });
    a.rendered!.secrets = [{ name: 'k-token', key: 'token', length: 32, alphabet: 'alphanumeric' }];
    const o = converged([a], 'inactive');
    o.secrets = {};
    o.containers = {};
    const steps = planSteps({ apps: [a] }, o);
    expect(steps.some((s) => s.kind === 'ensureSecret')).toBe(false);
    expect(steps[0]).toMatchObject({ kind: 'wait', held: true });
  });

  it('purges the adopted volumes (which carry no label of ours) with the app', () => {
    const a = app('k', 'absent', ['web'], { purge: true, adoptedVolumes: ['k-store'] });
    const o = observed({
      units: {},
      containers: {},
      secrets: {},
      networks: {},
      images: {},
      volumes: { 'k-store': '', other: '' },
    });
    expect(planSteps({ apps: [a] }, o)).toEqual([
      { kind: 'removeVolume', app: 'k', volume: 'k-store', reason: 'purge: app data (adopted volume)' },
    ]);
  });
});
