import type { Desired, Observed, Step, UnitStatus } from './types.js';
import { containerServicesOf, planSteps, pullPending, servicesOf } from './plan-steps.js';
import { pullableContainers, pullRunning, pullUnitOf } from './plan-pulls.js';
import { backoffRemainingMs } from './clock-marks.js';

const transitionalPhase = (phase: string | undefined) => phase !== undefined && phase !== 'rolledBack';

export type UnitState = 'running' | 'starting' | 'restarting' | 'stopping' | 'stopped' | 'failed' | 'missing';
export type AppState =
  | 'running'
  | 'starting'
  | 'stopping'
  | 'stopped'
  | 'failed'
  | 'partial'
  | 'waiting'
  | 'held'
  | 'updating'
  | 'adopting'
  | 'rolling-back'
  | 'rolled-back'
  | 'not-adopted'
  | 'uninstalling'
  | 'not-installed';

export interface UnitView {
  unit: string;
  state: UnitState;
  activeState: string;
  subState: string;
  result: string;
  restarts: number;
  /** Why it last failed, when it did. */
  failure?: string;
}

export interface AppView {
  id: string;
  /** What the user asked for. */
  desired: 'running' | 'stopped' | 'absent';
  /** What systemd says, from the app's containers. */
  state: AppState;
  converged: boolean;
  units: UnitView[];
  lastFailure?: string;
  backoff?: string;
  /** The manifest could not be used: the app runs on its last good units. */
  error?: string;
  /** Interfaces it needs, who provides each on this node, and whether that provider is up. */
  needs?: Array<{ iface: string; optional: boolean; provider: string | null; up: boolean }>;
  /** Interfaces it provides to other apps. */
  provides?: string[];
  /** Why it is not running although it should: its provider is not up (`waiting for bitcoind (...)`). */
  waiting?: string;
  /**
   * Why it is held: the planner's waits that nothing ends until a person acts (a unit file
   * archy-quadlet did not write, new units Quadlet rejects, a missing file bind source).
   */
  held?: string[];
  /**
   * New images being pulled before the switch to the new units (the running version stays up;
   * the app is `updating`), or whose pull failed and is tried again (`retryInSec`).
   */
  pulls?: Array<{ image: string; state: 'pulling' | 'failed'; failures?: number; retryInSec?: number; build?: true }>;
  /**
   * An update being watched (`updating`), rolled back (`rolling-back`, then `rolled-back`: the
   * last good set runs, the new version is not tried again until the manifest changes or
   * `update APP --retry`), and why.
   */
  update?: {
    phase: string;
    since: string;
    toVersion?: string;
    fromVersion?: string;
    reason?: string;
    rollbackUnhealthy?: string;
  };
  /** An adoption in progress (`adopting`, `rolling-back`) or rolled back (`not-adopted`), and why it was rolled back. */
  adoption?: { phase: string; since: string; reason?: string };
}

export function unitState(u: UnitStatus | undefined): UnitState {
  if (!u || u.loadState === 'not-found') return 'missing';
  switch (u.activeState) {
    case 'active':
    case 'reloading':
      return 'running';
    case 'activating':
      return u.subState === 'auto-restart' ? 'restarting' : 'starting';
    case 'deactivating':
      return 'stopping';
    case 'failed':
      return 'failed';
    default:
      // A start job queued behind a provider still starting (After=): on its way up.
      return u.jobQueued ? 'starting' : 'stopped';
  }
}

function failureOf(u: UnitStatus | undefined): string | undefined {
  if (!u || u.result === 'success' || u.result === '') return undefined;
  const status = u.result === 'exit-code' ? ` (exit status ${u.execMainStatus})` : '';
  return `${u.result}${status}`;
}

/** A batch that plans no app steps: files (and the reload after them), or a reload alone. */
const filesOnly = (steps: Step[]) =>
  steps.some((s) => s.kind === 'writeUnit' || s.kind === 'removeUnit' || s.kind === 'daemonReload');

/**
 * Per app, from the batch a pass would plan now: the reasons of its held waits, whether the
 * batch starts any of its containers, and whether any step but a wait is left for it (its new
 * files not yet written, an update not yet begun: not converged, however its containers run).
 * A batch that writes unit files (or reloads) plans no app steps: each app is then planned
 * alone, on its own files, so that the holds of apps whose files do not change are still
 * known. An app whose own files are about to change has none known yet (the next pass plans
 * it on the new files).
 */
/** A step that moves the app: not a wait, nor housekeeping once it is there (pruneBuilds). */
function movesApp(s: Step): boolean {
  return s.kind !== 'wait' && s.kind !== 'pruneBuilds';
}

function planByApp(desired: Desired, observed: Observed): Map<string, AppPlan> {
  const out = new Map<string, AppPlan>();
  const entryOf = (app: string) => {
    const entry = out.get(app) ?? { reasons: [], starting: false, stepsLeft: false };
    out.set(app, entry);
    return entry;
  };
  const collect = (steps: Step[]) => {
    for (const s of steps) {
      if (s.app === undefined) continue;
      const entry = entryOf(s.app);
      if (s.kind === 'wait' && s.held && !entry.reasons.includes(s.reason)) entry.reasons.push(s.reason);
      if (s.kind === 'start' || s.kind === 'restart') entry.starting = true;
      if (movesApp(s)) entry.stepsLeft = true;
    }
  };
  const all = planSteps(desired, observed);
  if (!filesOnly(all)) {
    collect(all);
    return out;
  }
  for (const s of all) if (s.app !== undefined && movesApp(s)) entryOf(s.app).stepsLeft = true;
  for (const app of desired.apps) {
    const own = observed.files[app.id];
    const alone = planSteps({ apps: [app] }, { ...observed, files: own ? { [app.id]: own } : {} });
    if (!filesOnly(alone)) collect(alone.filter((s) => s.app === app.id));
    else if (alone.some((s) => s.app === app.id && movesApp(s))) entryOf(app.id).stepsLeft = true;
  }
  return out;
}

interface AppPlan {
  reasons: string[];
  starting: boolean;
  stepsLeft: boolean;
}

/** Per app and unit: desired, observed, transitional states, last failure. Pure. */
export function computeStatus(desired: Desired, observed: Observed): AppView[] {
  const holds = planByApp(desired, observed);
  return desired.apps.map((app): AppView => {
    const containers = containerServicesOf(app, observed);
    const units = servicesOf(app, observed).map((unit): UnitView => {
      const u = observed.units[unit];
      const failure = failureOf(u);
      return {
        unit,
        state: unitState(u),
        activeState: u?.activeState ?? 'unknown',
        subState: u?.subState ?? 'unknown',
        result: u?.result ?? 'unknown',
        restarts: u?.nRestarts ?? 0,
        ...(failure ? { failure } : {}),
      };
    });
    const states = units.filter((u) => containers.includes(u.unit)).map((u) => u.state);
    let state: AppState;
    const phase = app.adoption?.phase;
    if (phase === 'retiring' || phase === 'starting') state = 'adopting';
    else if (phase === 'rollingBack') state = 'rolling-back';
    else if (phase === 'rolledBack') state = 'not-adopted';
    else if (app.intent === 'absent') state = 'uninstalling';
    else if (states.includes('failed')) state = 'failed';
    else if (states.includes('starting') || states.includes('restarting')) state = 'starting';
    else if (states.includes('stopping')) state = 'stopping';
    else if (states.length > 0 && states.every((s) => s === 'running')) state = 'running';
    else if (states.every((s) => s === 'stopped' || s === 'missing')) state = 'stopped';
    else state = 'partial';
    // Asked to stop, some containers still up (a stop job queued, dependents stopped before
    // their providers): on its way down, which the passes carry on.
    if (app.intent === 'stopped' && phase === undefined && (state === 'partial' || state === 'running'))
      state = 'stopping';
    const needs = (app.rendered?.needs ?? []).map((n) => ({
      iface: n.iface,
      optional: n.optional,
      provider: n.provider ?? null,
      up: n.service !== undefined && observed.units[n.service]?.activeState === 'active',
    }));
    const down = needs.find((n) => n.provider !== null && !n.up);
    const waiting =
      app.intent === 'running' && down && state !== 'running'
        ? `waiting for ${down.iface} (${down.provider} is ${unitState(observed.units[app.rendered!.needs.find((n) => n.iface === down.iface)!.service!])})`
        : undefined;
    if (waiting && (state === 'stopped' || state === 'partial')) state = 'waiting';
    // Pulls before the switch (plan-pulls.ts): the pull unit runs, or a failed one waits out
    // its backoff; while any is pending the app is `updating` on its current units.
    const pending = !transitionalPhase(phase) && pullPending(app, observed);
    const pulls: NonNullable<AppView['pulls']> = pending
      ? pullableContainers(app).flatMap((c): NonNullable<AppView['pulls']> => {
          const unit = pullUnitOf(c.service);
          const u = observed.units[unit];
          if (!(observed.missingImages ?? []).includes(c.image!)) return [];
          const build = c.buildArgv ? { build: true as const } : {};
          if (u && u.loadState !== 'not-found' && u.hookKey === c.image && pullRunning(u))
            return [{ image: c.image!, state: 'pulling', ...build }];
          const b = observed.backoff[unit];
          if (b)
            return [
              {
                image: c.image!,
                state: 'failed',
                failures: b.failures,
                retryInSec: Math.ceil(backoffRemainingMs(b, observed) / 1000),
                ...build,
              },
            ];
          return [{ image: c.image!, state: 'pulling', ...build }];
        })
      : [];
    if (pending)
      state = state === 'running' ? 'updating' : state === 'stopped' || state === 'partial' ? 'starting' : state;
    // An update (plan-update.ts): watched until healthy, or rolled back.
    const update = app.intent === 'running' ? app.update : undefined;
    if (update?.phase === 'switching' && state !== 'failed') state = 'updating';
    else if (update?.phase === 'rollingBack') state = 'rolling-back';
    else if (update?.phase === 'rolledBack' && state === 'running') state = 'rolled-back';
    const transitional = phase !== undefined;
    // Held: it should run, does not, and no pass will start it until a person acts.
    const hold = holds.get(app.id);
    const held = hold?.reasons.length ? hold.reasons : undefined;
    if (
      held &&
      !transitional &&
      app.intent === 'running' &&
      !hold!.starting &&
      (state === 'stopped' || state === 'partial' || state === 'waiting' || state === 'failed')
    )
      state = 'held';
    const failed = units.find((u) => u.failure && containers.includes(u.unit));
    const backoff = containers
      .filter((c) => unitState(observed.units[c]) !== 'running')
      .map((c) => observed.backoff[c])
      .find((b) => b && backoffRemainingMs(b, observed) > 0);
    return {
      id: app.id,
      desired: app.intent,
      state,
      converged:
        phase === 'rolledBack' ||
        (!transitional &&
          !pending &&
          !hold?.stepsLeft &&
          ((app.intent === 'running' && (state === 'running' || state === 'rolled-back')) ||
            (app.intent === 'stopped' && state === 'stopped'))),
      units,
      ...(failed ? { lastFailure: `${failed.unit}: ${failed.failure}` } : {}),
      ...(backoff
        ? {
            backoff:
              `${backoff.failures} failure(s); ` +
              `next start in ${Math.ceil(backoffRemainingMs(backoff, observed) / 1000)} s`,
          }
        : {}),
      ...(app.error ? { error: app.error } : {}),
      ...(needs.length > 0 ? { needs } : {}),
      ...(app.rendered?.provides.length ? { provides: app.rendered.provides } : {}),
      ...(waiting ? { waiting } : {}),
      ...(held ? { held } : {}),
      ...(pulls.length > 0 ? { pulls } : {}),
      ...(app.update
        ? {
            update: {
              phase: app.update.phase,
              since: app.update.startedAt,
              ...(app.update.toVersion ? { toVersion: app.update.toVersion } : {}),
              ...(app.update.fromVersion ? { fromVersion: app.update.fromVersion } : {}),
              ...(app.update.reason ? { reason: app.update.reason } : {}),
              ...(app.update.rollbackUnhealthy ? { rollbackUnhealthy: app.update.rollbackUnhealthy } : {}),
            },
          }
        : {}),
      ...(app.adoption
        ? {
            adoption: {
              phase: app.adoption.phase,
              since: app.adoption.startedAt,
              ...(app.adoption.reason ? { reason: app.adoption.reason } : {}),
            },
          }
        : {}),
    };
  });
}
