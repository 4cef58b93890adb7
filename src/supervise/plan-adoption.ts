import type { DesiredApp, Observed, Step, UnitStatus } from './types.js';
import { elapsedMs, switchMarkOf } from './clock-marks.js';

/**
 * The planner's part of `archy-quadlet adopt` (see Adoption in types.ts). Pure, like the rest of
 * the planner: each pass looks at the old containers (by name, in Podman) and at the units, and
 * issues the next steps, so that a kill -9 or a reboot at any point is only a later pass.
 *
 * Safe at every point because of the order:
 * - An old container's restart policy is set to no before anything else: podman-restart.service
 *   (which starts restart-policy=always containers at boot) can no longer bring it back behind
 *   the units' back.
 * - No unit file is written while an old container still has the name of the unit's
 *   container: Quadlet's `podman run --replace` would delete it, writable layer and all.
 * - The old containers are removed only once every unit is healthy, and never their volumes.
 * - A rollback stops and removes the units first, then renames the old containers back, and
 *   only then starts them: a container started under its aside name keeps that name in the
 *   network's DNS, where the rest of its stack would not find it.
 */

const SEC = 1_000_000; // µs
/** Podman states of a container that is not running. */
const NOT_RUNNING = new Set(['created', 'configured', 'initialized', 'exited', 'stopped', 'dead']);
/** Beyond the longest start timeout, before an adoption whose units never settled is rolled back. */
export const ADOPT_DEADLINE_GRACE_SEC = 120;

export function adoptionInFlight(app: DesiredApp): boolean {
  const phase = app.adoption?.phase;
  return phase === 'retiring' || phase === 'starting' || phase === 'rollingBack';
}

/** Retiring: each old container stopped (restart policy no first), then renamed aside. */
export function planRetiring(app: DesiredApp, o: Observed): Step[] {
  const id = app.id;
  if (!o.containers) return [{ kind: 'wait', app: id, reason: 'looking at the old containers' }];
  const steps: Step[] = [];
  for (const c of app.adoption!.containers) {
    const old = o.containers[c.name];
    const aside = o.containers[c.aside];
    if (aside) {
      // Out of the way already; someone started it again since: stopped again.
      if (!NOT_RUNNING.has(aside.state) && aside.state !== 'stopping')
        steps.push({
          kind: 'stopContainer',
          app: id,
          container: c.aside,
          timeoutSec: c.stopTimeoutSec,
          reason: `the old container ${c.name}, kept as ${c.aside}, runs again: stopping it`,
        });
      else if (aside.state === 'stopping')
        steps.push({ kind: 'wait', app: id, reason: `the old container ${c.name} is stopping` });
      continue;
    }
    // Gone (removed by hand), or one of ours: nothing of it to keep.
    if (!old || old.app !== undefined) continue;
    if (old.state === 'stopping') {
      steps.push({
        kind: 'wait',
        app: id,
        reason: `the old container ${c.name} is stopping (up to ${c.stopTimeoutSec} s)`,
      });
      continue;
    }
    const running = !NOT_RUNNING.has(old.state);
    steps.push({
      kind: 'retireContainer',
      app: id,
      container: c.name,
      aside: c.aside,
      running,
      timeoutSec: c.stopTimeoutSec,
      reason: running
        ? `adopting: stopping the old container ${c.name} (restart policy no first)`
        : `adopting: the old container ${c.name} is stopped: renaming it ${c.aside}`,
    });
  }
  if (steps.length > 0) return steps;
  return [{ kind: 'adoptSwitch', app: id, reason: 'the old containers are out of the way: the units take over' }];
}

/**
 * Starting: the usual steps of the app (`usual`: files, starts, waits) until every container
 * unit is healthy; then the old containers go, and the adoption is done. A unit that fails,
 * restarts, or is not healthy within its start timeout, or anything that holds the app (a
 * file someone else wrote, units Quadlet rejects, a missing file), rolls it back.
 */
export function planAdoptionGate(app: DesiredApp, o: Observed, usual: Step[]): Step[] {
  const id = app.id;
  const adoption = app.adoption!;
  const held = usual.find((s) => s.kind === 'wait' && s.held);
  if (held) return [rollBack(id, held.reason)];
  const containers = app.rendered?.containers ?? [];
  for (const c of containers) {
    const u = o.units[c.service];
    if (!u) continue;
    const failure = failureOf(u);
    if (failure) return [rollBack(id, `${c.service} ${failure}`)];
    if (
      u.activeState === 'activating' &&
      u.execMainStartMono > 0 &&
      o.nowMono - u.execMainStartMono > c.startTimeoutSec * SEC
    )
      return [rollBack(id, `${c.service} was not healthy within its start timeout (${c.startTimeoutSec} s)`)];
  }
  const settled =
    containers.length > 0 &&
    containers.every((c) => {
      const u = o.units[c.service];
      if (u?.loadState !== 'loaded') return false;
      // A stopped app is adopted stopped: its units are known to systemd, and not started.
      return app.intent === 'running' ? u.activeState === 'active' : u.activeState === 'inactive';
    }) &&
    !usual.some((s) => s.kind === 'writeUnit' || s.kind === 'removeUnit' || s.kind === 'daemonReload');
  if (!settled) {
    // A safety net from the switch (monotonic within its boot, wall clock across a reboot):
    // units that never even start.
    // Looked at only while unsettled: units that are healthy are never rolled back for time.
    const longest = Math.max(0, ...containers.map((c) => c.startTimeoutSec));
    const limitMs = (longest + ADOPT_DEADLINE_GRACE_SEC) * 1000;
    const switchedAtMs = adoption.switchedAtMs;
    if (switchedAtMs !== undefined && elapsedMs(switchMarkOf({ ...adoption, switchedAtMs }), o) > limitMs)
      return [rollBack(id, `the units did not settle within ${longest + ADOPT_DEADLINE_GRACE_SEC} s`)];
    return usual;
  }
  if (!o.containers) return [...usual, { kind: 'wait', app: id, reason: 'looking at the old containers' }];
  const removals: Step[] = adoption.containers
    .filter((c) => o.containers![c.aside] !== undefined && o.containers![c.aside]!.app === undefined)
    .map((c) => ({
      kind: 'removeContainer',
      app: id,
      container: c.aside,
      reason: `adopted: the units are ${app.intent === 'running' ? 'healthy' : 'in place'}; the old container ${c.name} goes (its volumes stay)`,
    }));
  if (removals.length > 0) return [...usual, ...removals];
  return [...usual, { kind: 'adoptDone', app: id, reason: 'adopted: its units run it now' }];
}

/**
 * Rolling back: the units are stopped (`stopping`, planned by the caller) and their files
 * removed (by the file steps), then containers of ours left with an old name go, and each old
 * container, stopped, has its restart policy restored, is renamed back, and started if it ran.
 */
export function planRollingBack(app: DesiredApp, o: Observed, stopping: Step[], unitsGone: boolean): Step[] {
  const id = app.id;
  if (stopping.length > 0) return stopping;
  if (!unitsGone) return [{ kind: 'wait', app: id, reason: 'rolling back: its units are being removed' }];
  if (!o.containers) return [{ kind: 'wait', app: id, reason: 'looking at the old containers' }];
  const steps: Step[] = [];
  for (const c of app.adoption!.containers) {
    const now = o.containers[c.name];
    if (now?.app === id) {
      steps.push({
        kind: 'removeContainer',
        app: id,
        container: c.name,
        reason: `rolling back: the unit's container ${c.name} goes before the old one returns`,
      });
      continue;
    }
    const aside = o.containers[c.aside];
    if (!aside) {
      // Renamed back, not started yet (a kill between the two): started now. Back already
      // (started, whatever it did since), or removed by hand: nothing to return.
      if (c.wasRunning && !c.restarted && now && now.app === undefined && NOT_RUNNING.has(now.state))
        steps.push({
          kind: 'restoreContainer',
          app: id,
          container: c.name,
          restartPolicy: c.restartPolicy,
          start: true,
          reason: `rolling back: the old container ${c.name} is back under its name: starting it`,
        });
      continue;
    }
    if (now) {
      steps.push({
        kind: 'wait',
        app: id,
        held: true,
        reason: `rolling back: a container named ${c.name} is in the way of the old one (kept as ${c.aside}): remove or rename it`,
      });
      continue;
    }
    // Podman gives a container its name in the network's DNS when it starts, and a rename
    // does not change it (measured, Podman 5.4): a container that runs under the aside name
    // is stopped first, so that it starts again under its own, where its stack finds it.
    if (aside.state === 'stopping') {
      steps.push({ kind: 'wait', app: id, reason: `rolling back: the old container ${c.name} is stopping` });
      continue;
    }
    if (!NOT_RUNNING.has(aside.state)) {
      steps.push({
        kind: 'stopContainer',
        app: id,
        container: c.aside,
        timeoutSec: c.stopTimeoutSec,
        reason: `rolling back: the old container ${c.name} runs as ${c.aside}: stopping it, to start it under its own name`,
      });
      continue;
    }
    steps.push({
      kind: 'restoreContainer',
      app: id,
      container: c.name,
      aside: c.aside,
      restartPolicy: c.restartPolicy,
      start: c.wasRunning,
      reason: `rolling back: the old container ${c.name} returns${c.wasRunning ? ', started' : ''}`,
    });
  }
  if (steps.length > 0) return steps;
  return [
    {
      kind: 'adoptRolledBack',
      app: id,
      reason: `rolled back: the old containers run as before (${app.adoption!.reason ?? 'no reason recorded'})`,
    },
  ];
}

function rollBack(app: string, why: string): Step {
  return { kind: 'adoptRollBack', app, why, reason: `adoption failed: ${why}: rolling back` };
}

/** How a unit failed since it was started, or undefined while it has not. */
export function failureOf(u: UnitStatus): string | undefined {
  const restarted = u.subState === 'auto-restart' || u.nRestarts > 0;
  if (u.activeState !== 'failed' && !restarted) return undefined;
  const what: Record<string, string> = {
    timeout: 'was not healthy within its start timeout',
    protocol: 'did not become ready (its health check failed, or it exited first)',
    'exit-code': `exited with status ${u.execMainStatus}`,
    signal: 'was killed by a signal',
    'core-dump': 'dumped core',
    'start-limit-hit': 'failed too often to be started again',
  };
  const why = what[u.result] ?? `failed (${u.result || 'unknown result'})`;
  return restarted ? `${why}, and was restarted by systemd` : why;
}
