import type { DesiredApp, DesiredHook, Observed, Step, UnitStatus } from './types.js';
import { BACKOFF } from './plan-steps.js'; // used at call time only: the import cycle is harmless
import { backoffFrom, backoffRemainingMs } from './clock-marks.js';

// Hooks: commands run in a running container at points of the app's life. Each runs as a
// transient systemd unit the pass starts and later reads, like any other step: a verb never
// waits for one. A hook runs once per occasion (an install, a version, a start of its
// container), recorded in the state by a key; the unit's description carries the key it runs
// for, so a result is never taken for another occasion's. What a kill -9 or a reboot cuts
// short is run again (hooks are idempotent by contract); a hook that fails holds the app.

/** The key of the occasion a hook runs for now; undefined while it has none (its container is not up). */
export function hookOccasion(app: DesiredApp, hook: DesiredHook, o: Observed): string | undefined {
  switch (hook.point) {
    case 'postInstall':
      return `install ${app.installedAt ?? 'unknown'}`;
    case 'preUninstall':
      return `uninstall ${app.installedAt ?? 'unknown'}`;
    case 'postUpdate':
      return `version ${app.rendered?.version ?? 'unknown'}`;
    case 'postStart': {
      // Each start of the container is an occasion (its start time on the monotonic clock).
      const u = o.units[hook.service];
      return u && u.execMainStartMono > 0 ? `start ${u.execMainStartMono}` : undefined;
    }
  }
}

/** Runs of a pre-uninstall hook cut short before the uninstall goes on without it. */
const UNINSTALL_HOOK_TRIES = 3;

const LABEL: Record<DesiredHook['point'], string> = {
  postInstall: 'post-install',
  postStart: 'post-start',
  postUpdate: 'post-update',
  preUninstall: 'pre-uninstall',
};

/**
 * The hooks of a running app: the first one due, in order (postInstall, postUpdate,
 * postStart), once its container runs and nothing in this batch starts or restarts it.
 * `batch` is the app's steps so far.
 */
export function planRunningHooks(app: DesiredApp, o: Observed, batch: Step[]): Step[] {
  // Started, restarted or stopped in this batch, or waiting to be (for its config files, its
  // secrets): not the container a hook of this version may run in.
  const moving = new Set(
    batch.flatMap((s) =>
      s.kind === 'start' || s.kind === 'restart' || s.kind === 'stop'
        ? s.units
        : s.kind === 'wait' && s.unit
          ? [s.unit]
          : [],
    ),
  );
  for (const hook of app.rendered?.hooks ?? []) {
    if (hook.point === 'preUninstall') continue;
    const key = hookOccasion(app, hook, o);
    if (key === undefined) continue;
    // The version it was installed at is not an update. (An app installed before versions
    // were recorded counts from the version it runs when the hook is first seen.)
    const installed = app.installedVersion !== undefined ? `version ${app.installedVersion}` : undefined;
    const done = app.hooksDone?.[hook.point] ?? (hook.point === 'postUpdate' ? installed : undefined);
    if (hook.point === 'postUpdate' && done === undefined) {
      return [
        { kind: 'hookDone', app: app.id, point: hook.point, key, reason: 'installed at this version: no update yet' },
      ];
    }
    if (done === key) continue;
    const up = o.units[hook.service]?.activeState === 'active' && !moving.has(hook.service);
    if (!up) return []; // runs once its container does
    return hookSteps(app, hook, key, o, 'hold');
  }
  return [];
}

/**
 * The preUninstall hook of an app being uninstalled: run while its container still runs,
 * before anything stops. [] when there is none, it has run, or the container is not running.
 * A failure does not hold the uninstall the user asked for: it is reported and kept for explain.
 */
export function planUninstallHook(app: DesiredApp, o: Observed): Step[] {
  const hook = app.rendered?.hooks?.find((h) => h.point === 'preUninstall');
  if (!hook) return [];
  const key = hookOccasion(app, hook, o)!;
  if (app.hooksDone?.[hook.point] === key) return [];
  const u = o.units[hook.unit];
  const ran = u && u.loadState !== 'not-found' && u.hookKey === key;
  if (!ran && o.units[hook.service]?.activeState !== 'active') return [];
  return hookSteps(app, hook, key, o, 'proceed');
}

/** Where one hook stands for this occasion, and the step that moves it on. */
function hookSteps(
  app: DesiredApp,
  hook: DesiredHook,
  key: string,
  o: Observed,
  onFailure: 'hold' | 'proceed',
): Step[] {
  const name = `${LABEL[hook.point]} hook`;
  const u = o.units[hook.unit];
  const loaded = u !== undefined && u.loadState !== 'not-found';
  const base = { app: app.id, unit: hook.unit } as const;
  if (loaded && u.hookKey !== key && u.activeState !== 'inactive') {
    // Left from another occasion (a result never read, a run cut short): out of the way first.
    if (u.activeState === 'failed')
      return [{ kind: 'resetFailed', app: app.id, units: [hook.unit], reason: `${name}: clearing an earlier run` }];
    return [{ kind: 'stop', app: app.id, units: [hook.unit], reason: `${name}: clearing an earlier run` }];
  }
  if (loaded && u.hookKey === key) {
    if (u.jobQueued) return [{ kind: 'wait', ...base, reason: `${name} starting in ${hook.container}` }];
    if (u.activeState === 'active' && u.subState === 'exited')
      return [
        { kind: 'hookDone', app: app.id, point: hook.point, key, unit: hook.unit, reason: `${name} succeeded` },
        ...(o.backoff[hook.unit] ? [{ kind: 'clearBackoff', ...base, reason: `${name} succeeded` } as const] : []),
      ];
    if (['active', 'activating', 'reloading', 'deactivating'].includes(u.activeState))
      return [{ kind: 'wait', ...base, reason: `${name} running in ${hook.container} (at most ${hook.timeoutSec} s)` }];
    if (u.activeState === 'failed') return failedHook(app, hook, key, u, o, name, onFailure);
  }
  const backoff = o.backoff[hook.unit];
  if (backoff && backoffRemainingMs(backoff, o) > 0) {
    const sec = Math.ceil(backoffRemainingMs(backoff, o) / 1000);
    return [
      { kind: 'wait', ...base, reason: `${name} was cut short ${backoff.failures} time(s): next run in ${sec} s` },
    ];
  }
  return [
    {
      kind: 'runHook',
      app: app.id,
      point: hook.point,
      unit: hook.unit,
      argv: hook.argv,
      timeoutSec: hook.timeoutSec,
      key,
      reason: `${name} due (${key})`,
    },
  ];
}

function failedHook(
  app: DesiredApp,
  hook: DesiredHook,
  key: string,
  u: UnitStatus,
  o: Observed,
  name: string,
  onFailure: 'hold' | 'proceed',
): Step[] {
  const base = { app: app.id, unit: hook.unit } as const;
  const done = (reason: string): Step => ({
    kind: 'hookDone',
    app: app.id,
    point: hook.point,
    key,
    unit: hook.unit,
    reason,
  });
  if (u.result === 'signal' || u.result === 'core-dump') {
    // Killed (kill -9, the OOM killer), not a failure of its own: run again, with backoff.
    const failures = (o.backoff[hook.unit]?.failures ?? 0) + 1;
    if (onFailure === 'proceed' && failures > UNINSTALL_HOOK_TRIES)
      // An uninstall the user asked for does not wait forever on a hook that keeps dying.
      return [
        done(`${name} was killed ${failures} times: uninstalling anyway`),
        { kind: 'clearBackoff', ...base, reason: `${name} given up` },
      ];
    const delaySec = Math.min(BACKOFF.capSec, BACKOFF.baseSec * 2 ** (failures - 1));
    return [
      {
        kind: 'resetFailed',
        app: app.id,
        units: [hook.unit],
        reason: `${name} was killed (signal ${u.execMainStatus}): running it again`,
      },
      {
        kind: 'setBackoff',
        ...base,
        failures,
        ...backoffFrom(o, delaySec * 1000),
        reason: `${name} cut short ${failures} time(s)`,
      },
    ];
  }
  const why =
    u.result === 'timeout'
      ? `timed out after ${hook.timeoutSec} s`
      : u.result === 'exit-code'
        ? `exit code ${u.execMainStatus}`
        : u.result;
  if (onFailure === 'proceed')
    return [done(`${name} failed (${why}): uninstalling anyway (its output is kept for explain)`)];
  const failedMs = o.nowMs - (o.nowMono - u.inactiveEnterMono) / 1000;
  if (app.restartRequestedAt !== undefined && app.restartRequestedAt > failedMs)
    return [
      { kind: 'resetFailed', app: app.id, units: [hook.unit], reason: `restart requested: running the ${name} again` },
    ];
  return [
    {
      kind: 'wait',
      ...base,
      held: true,
      reason: `${name} failed (${why}): archy-quadlet explain ${app.id} shows its output; archy-quadlet restart ${app.id} runs it again`,
    },
  ];
}

/** Hook units of an app that is gone, left loaded (a failed run, a result never read): let go. */
export function leftoverHookSteps(app: DesiredApp, o: Observed): Step[] {
  const units = (app.rendered?.hooks ?? [])
    .map((h) => h.unit)
    .filter((u) => o.units[u] && o.units[u]!.loadState !== 'not-found');
  const failed = units.filter((u) => o.units[u]!.activeState === 'failed');
  const active = units.filter((u) => ['active', 'activating'].includes(o.units[u]!.activeState));
  return [
    ...(active.length
      ? [{ kind: 'stop', app: app.id, units: active, reason: 'hook of an uninstalled app' } as const]
      : []),
    ...(failed.length
      ? [{ kind: 'resetFailed', app: app.id, units: failed, reason: 'hook of an uninstalled app' } as const]
      : []),
  ];
}
