import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Paths } from '../paths.js';
import type { ManifestValidator } from '../manifest/validate-manifest.js';
import { userSystemctl, type Systemctl } from './systemctl.js';
import { podmanCli, type Podman } from './podman.js';
import { systemClock, observe, type Clock } from './observe.js';
import { acquireLock, type PassLock } from './lock.js';
import { readBackoff, readState, writeBackoff, type SupervisorState } from './state-store.js';
import { loadDesired } from './load-desired.js';
import { planSteps } from './plan-steps.js';
import { applySteps, makeExecutors, type StepOutcome } from './apply-steps.js';
import { logOutcome } from './logger.js';
import type { Desired, Observed, Step } from './types.js';

/** Everything a pass needs, as values: the CLI builds one, tests build one for the lab. */
export interface Supervisor {
  paths: Paths;
  systemctl: Systemctl;
  podman: Podman;
  clock: Clock;
  log: Logger;
  /** The manifest validator, loaded when first needed (a pass over unchanged manifests never needs it). */
  validator: () => Promise<ManifestValidator>;
  /** Lock file shared by every archy-quadlet process of this user. */
  lockPath: string;
  lockWaitMs: number;
}

export function createSupervisor(paths: Paths, env: Record<string, string | undefined>, log: Logger, lockWaitMs = 60_000): Supervisor {
  const runtime = env.XDG_RUNTIME_DIR && env.XDG_RUNTIME_DIR.startsWith('/') ? env.XDG_RUNTIME_DIR : paths.stateDir;
  return {
    paths,
    systemctl: userSystemctl(),
    podman: podmanCli(),
    clock: systemClock,
    log,
    validator: lazyValidator(),
    lockPath: join(runtime, 'archy-quadlet.lock'),
    lockWaitMs,
  };
}

export interface PassReport {
  /** Steps applied, batch by batch. */
  applied: StepOutcome[][];
  /** What the planner says now: [] when converged; waits while things are in flight. */
  pending: Step[];
  converged: boolean;
  errors: Array<{ app: string; message: string }>;
}

function lazyValidator(): () => Promise<ManifestValidator> {
  let v: Promise<ManifestValidator> | undefined;
  return () => (v ??= import('../manifest/validate-manifest.js').then((m) => m.createManifestValidator()));
}

export async function currentView(sv: Supervisor): Promise<{ state: SupervisorState; desired: Desired; observed: Observed }> {
  const state = await readState(sv.paths.stateDir);
  const desired = await loadDesired(sv.paths, state, { writeCache: true, validator: sv.validator });
  const observed = await observe(desired, {
    unitRoot: sv.paths.unitRoot,
    systemctl: sv.systemctl,
    podman: sv.podman,
    clock: sv.clock,
    backoff: await readBackoff(sv.paths.stateDir),
  });
  return { state, desired, observed };
}

export async function withLock<T>(sv: Supervisor, fn: () => Promise<T>): Promise<T> {
  const lock: PassLock = await acquireLock(sv.lockPath, sv.lockWaitMs, (pid) => sv.log.info({ holder: pid }, 'waiting for another archy-quadlet pass to finish'));
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}

const MAX_BATCHES = 8;

/**
 * One reconcile pass: observe, plan, apply the batch, and again, until the planner has
 * nothing left but waits (or nothing at all). Start and stop are only enqueued, so a pass
 * never waits for a container. The caller holds the lock.
 */
export async function reconcilePass(sv: Supervisor, opts: { dryRun?: boolean } = {}): Promise<PassReport> {
  const applied: StepOutcome[][] = [];
  let pending: Step[] = [];
  let desired: Desired | undefined;
  let lastWasReloadOnly = false;
  for (let batch = 0; batch < MAX_BATCHES; batch++) {
    const view = await currentView(sv);
    desired = view.desired;
    pending = planSteps(view.desired, view.observed);
    const actionable = pending.filter((s) => s.kind !== 'wait');
    if (opts.dryRun || actionable.length === 0) break;
    // A reload that did not clear systemd's "outdated" flag would not clear it the second
    // time either: leave it to the next pass rather than spin.
    const reloadOnly = actionable.length === 1 && actionable[0]!.kind === 'daemonReload';
    if (reloadOnly && lastWasReloadOnly) break;
    lastWasReloadOnly = reloadOnly;
    const backoff = { ...view.observed.backoff };
    const executors = makeExecutors({ unitRoot: sv.paths.unitRoot, stateDir: sv.paths.stateDir, systemctl: sv.systemctl, podman: sv.podman, desired: view.desired, backoff });
    applied.push(await applySteps(actionable, executors, (o) => logOutcome(sv.log, o)));
    if (JSON.stringify(backoff) !== JSON.stringify(view.observed.backoff)) await writeBackoff(sv.paths.stateDir, backoff);
    // A batch that only failed would fail the same way again at once: leave it to the next pass.
    if (applied[applied.length - 1]!.every((o) => !o.ok)) break;
  }
  const errors = (desired?.apps ?? []).filter((a) => a.error && a.error !== 'not installed').map((a) => ({ app: a.id, message: a.error! }));
  return { applied, pending, converged: pending.length === 0, errors };
}
