import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Paths } from '../paths.js';
import type { ManifestValidator } from '../manifest/validate-manifest.js';
import { userSystemctl, type Systemctl } from './systemctl.js';
import { podmanCli, type Podman } from './podman.js';
import { missingFiles, systemClock, observe, realQuadlet, type Clock, type QuadletCheck } from './observe.js';
import { acquireLock, lockHolder, tryLock } from './lock.js';
import {
  readBackoff,
  beginReloadLog,
  readReloadLog,
  readState,
  writeBackoff,
  updateState,
  type SupervisorState,
} from './state-store.js';
import { loadDesired } from './load-desired.js';
import { planSteps } from './plan-steps.js';
import { applySteps, makeExecutors, type StepOutcome } from './apply-steps.js';
import { logOutcome } from './logger.js';
import { readLedger, withoutContent, writeLedger, type PassLedger, type PassRecord } from './pass-ledger.js';
import { runtimeBreakageOf } from '../podman-heal/podman-breakage.js';
import { readHealRecord, writeHealRecord, type HealRecord } from '../podman-heal/heal-record.js';
import { probeNetworkHelpers, rootlessRunRoot } from '../podman-heal/probe-network-helpers.js';
import type { NetworkHelpersProbe } from '../podman-heal/network-helpers.js';
import { nodeMetricsText, readMetricsDir, writeMetricsFile } from '../metrics/node-metrics.js';
import type { BackoffEntry, Desired, HostPort, Observed, Step } from './types.js';
import { busyPorts } from './host-ports.js';
import { readNodeFacts, readRecordedFacts, recordFacts } from './node-facts-adapter.js';
import { readTemplateInputs, recordSecretId, recordTemplateInput } from './secret-ids.js';
import type { NodeFacts } from '../graph/node-facts.js';
import { lastGoodDue } from './plan-update.js';
import { writeLastGood } from './last-good-store.js';
import { runtimeSnapshotStore, type UnitSnapshotStore } from './unit-snapshot.js';

/** Everything a pass needs, as values: the CLI builds one, tests build one for the lab. */
export interface Supervisor {
  paths: Paths;
  systemctl: Systemctl;
  podman: Podman;
  quadlet: QuadletCheck;
  /** Which of these host ports something holds (binds each for a moment). */
  busyPorts: (ports: HostPort[]) => Promise<string[]>;
  /** Which of these paths are not a file (missing, or a directory): file bind sources. */
  missingFiles: (paths: string[]) => Promise<string[]>;
  clock: Clock;
  log: Logger;
  /** The manifest validator, loaded when first needed (a pass over unchanged manifests never needs it). */
  validator: () => Promise<ManifestValidator>;
  /** One pass at a time: shared by every archy-quadlet process of this user. */
  lockPath: string;
  /** Held for moments, around each read-change-write of the state file. */
  stateLockPath: string;
  /** Numbered passes (see pass-ledger.ts). */
  ledgerPath: string;
  /** The node's facts now (host name, LAN address...), given those last seen: read on every pass. */
  nodeFacts: (previous: NodeFacts | undefined) => NodeFacts;
  /**
   * Recovers Podman from a stale runtime (see src/podman-heal): what it did, a line each.
   * Absent: a pass never tries (the fakes of unit tests).
   */
  healPodmanRuntime?: () => Promise<string[]>;
  /** Rootless Podman's network helpers, read from their files; absent: never looked at (the fakes of unit tests). */
  networkHelpers?: () => Promise<NetworkHelpersProbe>;
  /** Units' last `show`, reused while it holds (unit-snapshot.ts); absent: every pass shows every unit. */
  unitSnapshot?: UnitSnapshotStore;
}

export function createSupervisor(paths: Paths, env: Record<string, string | undefined>, log: Logger): Supervisor {
  const runtime = env.XDG_RUNTIME_DIR?.startsWith('/') ? env.XDG_RUNTIME_DIR : paths.stateDir;
  return {
    paths,
    systemctl: userSystemctl(),
    podman: podmanCli(),
    quadlet: realQuadlet(env, paths.unitRoot, env.XDG_RUNTIME_DIR?.startsWith('/') ? env.XDG_RUNTIME_DIR : undefined),
    busyPorts,
    missingFiles,
    clock: systemClock,
    log,
    validator: lazyValidator(),
    lockPath: join(runtime, 'archy-quadlet.lock'),
    stateLockPath: join(runtime, 'archy-quadlet.state.lock'),
    ledgerPath: join(runtime, 'archy-quadlet.passes.json'),
    nodeFacts: (previous) => readNodeFacts(previous, undefined, paths.nodeNetwork?.subnet),
    ...(env.XDG_RUNTIME_DIR?.startsWith('/')
      ? {
          // Loaded when needed: it brings execa, which a pass that asks Podman nothing never loads.
          healPodmanRuntime: async () =>
            (await import('../podman-heal/heal-podman.js')).healStaleRuntime({
              runtimeDir: env.XDG_RUNTIME_DIR!,
              uid: process.getuid!(),
            }),
          networkHelpers: () => probeNetworkHelpers(rootlessRunRoot(env.XDG_RUNTIME_DIR!)),
          // Beside the cid files Quadlet's containers write there (%t is the manager's runtime dir).
          unitSnapshot: runtimeSnapshotStore(env.XDG_RUNTIME_DIR!),
        }
      : {}),
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

export interface View {
  state: SupervisorState;
  desired: Desired;
  observed: Observed;
}

/** What should be and what is, now. Read-only apart from the render cache; needs no lock. */
export async function currentView(sv: Supervisor): Promise<View> {
  const state = await readState(sv.paths.stateDir);
  const facts = sv.nodeFacts(await readRecordedFacts(sv.paths.stateDir));
  const desired = await loadDesired(sv.paths, state, { writeCache: true, validator: sv.validator, facts });
  await recordFacts(sv.paths.stateDir, facts).catch(() => undefined);
  const observed = await observe(desired, {
    unitRoot: sv.paths.unitRoot,
    systemctl: sv.systemctl,
    podman: sv.podman,
    quadlet: sv.quadlet,
    busyPorts: sv.busyPorts,
    missingFiles: sv.missingFiles,
    templateInputs: () => readTemplateInputs(sv.paths.stateDir),
    clock: sv.clock,
    backoff: await readBackoff(sv.paths.stateDir),
    reloads: await readReloadLog(sv.paths.stateDir, sv.clock.bootId?.()),
    hookLogDir: join(sv.paths.stateDir, 'hooks'),
    ...(sv.networkHelpers ? { networkHelpers: sv.networkHelpers } : {}),
    ...(sv.unitSnapshot ? { unitSnapshot: sv.unitSnapshot } : {}),
  });
  return { state, desired, observed };
}

/** Changes the state file: read, change, write, under the state lock (never held across a pass). */
export async function changeState(sv: Supervisor, change: (s: SupervisorState) => void): Promise<SupervisorState> {
  const lock = await acquireLock(sv.stateLockPath, 60_000);
  try {
    return await updateState(sv.paths.stateDir, change);
  } finally {
    await lock.release();
  }
}

/** How often a caller waiting for a pass looks again. */
const POLL_MS = 50;

/**
 * A complete pass that started after this call: run here when no pass is running, else the
 * next pass of whoever runs it. Passes are level-triggered: one that starts after a caller
 * recorded its intent serves that caller, so callers never queue behind each other and
 * none fails because others were busy. A dead holder's lock is taken over (see lock.ts).
 */
export async function requestPass(sv: Supervisor): Promise<PassReport> {
  const first = await readLedger(sv.ledgerPath);
  const need = first.started + 1;
  let told = false;
  for (;;) {
    // Served already? Looked at before the lock: a waiter woken by the end of a pass that
    // serves it returns instead of running one more.
    const served = servedBy(first, await readLedger(sv.ledgerPath), need);
    if (served) {
      const passes = served.map((r) => r.seq);
      sv.log.info({ passes, pids: [...new Set(served.map((r) => r.pid))] }, 'served by the pass of another process');
      return reportOf(served);
    }
    const lock = await tryLock(sv.lockPath);
    if (lock) {
      try {
        return await numberedPass(sv);
      } finally {
        await lock.release();
      }
    }
    if (!told) {
      const holder = await lockHolder(sv.lockPath);
      sv.log.info({ holder }, 'another archy-quadlet pass is running: waiting for the next one');
      told = true;
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * The completed passes numbered `need` or later, when they serve a caller that first read
 * `first`. Numbers are comparable only within one epoch: a ledger made afresh (or none at all
 * when the caller looked) could make a pass that started before the intent look later.
 */
function servedBy(first: PassLedger, now: PassLedger, need: number): PassRecord[] | undefined {
  if (first.epoch === '' || now.epoch !== first.epoch || now.completed < need) return undefined;
  const served = now.recent.filter((r) => r.seq >= need);
  return served.length > 0 ? served : undefined;
}

/** One pass under the lock the caller holds, numbered in the ledger before it reads anything. */
async function numberedPass(sv: Supervisor): Promise<PassReport> {
  const read = await readLedger(sv.ledgerPath);
  const before = read.epoch !== '' ? read : { ...read, epoch: randomBytes(8).toString('hex') };
  const seq = Math.max(before.started, before.completed) + 1;
  await writeLedger(sv.ledgerPath, { ...before, started: seq });
  const t0 = performance.now();
  let result: Awaited<ReturnType<typeof reconcilePassAndView>>;
  try {
    result = await reconcilePassAndView(sv);
  } catch (e) {
    if (!(await recoverPodman(sv, (e as Error).message))) throw e;
    result = await reconcilePassAndView(sv);
  }
  const { report: pass, view } = result;
  const report = { ...pass, applied: pass.applied.map((batch) => batch.map((o) => ({ ...o, pass: seq }))) };
  const record: PassRecord = {
    seq,
    pid: process.pid,
    ms: Math.round(performance.now() - t0),
    endedAtMs: sv.clock.nowMs(),
    applied: report.applied.flat().map((o) => ({ ...o, step: withoutContent(o.step) })),
    pending: report.pending.map(withoutContent),
    errors: report.errors,
  };
  const ledger = { ...before, started: seq, completed: seq, recent: [...before.recent, record] };
  await writeLedger(sv.ledgerPath, ledger);
  await writeNodeMetrics(sv, view, ledger);
  return report;
}

/**
 * A pass that failed because Podman's runtime state is stale (every podman command fails)
 * recovers it, at most once per boot (recorded before it starts, so a kill mid-way does not
 * make it loop), and says so in the log. True when it recovered: the pass is run again.
 */
async function recoverPodman(sv: Supervisor, message: string): Promise<boolean> {
  const breakage = runtimeBreakageOf(message);
  if (!breakage || !sv.healPodmanRuntime) return false;
  const bootId = sv.clock.bootId?.() ?? 'unknown';
  const last = await readHealRecord(sv.paths.stateDir);
  if (last?.bootId === bootId) {
    sv.log.error(
      { breakage: breakage.detail, recoveredAtMs: last.atMs },
      'Podman is failing with a stale runtime again; it was recovered once this boot already: see archy-quadlet doctor',
    );
    return false;
  }
  const record: HealRecord = { bootId, atMs: sv.clock.nowMs(), breakage: breakage.detail };
  await writeHealRecord(sv.paths.stateDir, record);
  sv.log.warn({ breakage: breakage.detail }, "Podman's runtime state is stale: recovering it");
  try {
    const done = await sv.healPodmanRuntime();
    await writeHealRecord(sv.paths.stateDir, { ...record, done });
    sv.log.warn({ done }, "Podman's runtime state recovered: the apps start again from their units");
    return true;
  } catch (e) {
    await writeHealRecord(sv.paths.stateDir, { ...record, error: (e as Error).message });
    sv.log.error({ err: (e as Error).message }, "Podman's runtime state could not be recovered");
    return false;
  }
}

/**
 * After a pass, the node's metrics for the node exporter, where `setup --metrics` asked: from
 * what the pass last saw, so no process more. A failure is logged, never the pass's.
 */
async function writeNodeMetrics(sv: Supervisor, view: View | undefined, ledger: PassLedger): Promise<void> {
  const dir = await readMetricsDir(sv.paths.stateDir);
  if (!dir || !view) return;
  try {
    await writeMetricsFile(dir, nodeMetricsText(view, ledger));
  } catch (e) {
    sv.log.warn({ dir, err: (e as Error).message }, 'the metrics file could not be written');
  }
}

/** What the passes that served a waiting caller did, as one report. */
function reportOf(records: PassRecord[]): PassReport {
  const last = records[records.length - 1]!;
  return {
    applied: records.map((r) => r.applied.map((o) => ({ ...o, ...(o.error === undefined ? {} : { error: o.error }) }))),
    pending: last.pending,
    converged: last.pending.length === 0,
    errors: last.errors,
  };
}

const MAX_BATCHES = 8;

/**
 * One reconcile pass: observe, plan, apply the batch, and again, until the planner has
 * nothing left but waits (or nothing at all). Start and stop are only enqueued, so a pass
 * never waits for a container. The caller holds the pass lock (or asks for a dry run).
 */
export async function reconcilePass(sv: Supervisor, opts: { dryRun?: boolean } = {}): Promise<PassReport> {
  return (await reconcilePassAndView(sv, opts)).report;
}

/** A pass, and the last view of the node it planned on (what the node's metrics describe). */
async function reconcilePassAndView(
  sv: Supervisor,
  opts: { dryRun?: boolean } = {},
): Promise<{ report: PassReport; view: View | undefined }> {
  const t0 = performance.now();
  let lastView: View | undefined;
  const applied: StepOutcome[][] = [];
  let pending: Step[] = [];
  let desired: Desired | undefined;
  let lastWasReloadOnly = false;
  let fruitlessReload: Step | undefined;
  let recordedAgain = false;
  let batches = 0;
  // The reloads of this pass are judged against files written from now on (runsOlderFile).
  if (!opts.dryRun)
    await beginReloadLog(sv.paths.stateDir, sv.clock.nowMono(), sv.clock.bootId?.()).catch(() => undefined);
  for (; batches < MAX_BATCHES; batches++) {
    const view = await currentView(sv);
    lastView = view;
    desired = view.desired;
    if (fruitlessReload) view.observed.reloadFruitless = true;
    pending = planSteps(view.desired, view.observed);
    const actionable = pending.filter((s) => s.kind !== 'wait');
    if (opts.dryRun) break;
    // Each app settled on new files is recorded at once, whatever the rest of the node still
    // does (an app installed beside a busy one must not wait for it to have a set to go back
    // to). Not while systemd holds outdated definitions: lastGoodDue waits for a pending
    // reload, and a reload given up on stays owed.
    const recorded = fruitlessReload ? 0 : await recordLastGoodSets(sv, view, pending);
    // A set just recorded may have a step of its own (pruneBuilds): planned again once.
    if (actionable.length === 0 && (recorded === 0 || recordedAgain)) break;
    if (actionable.length === 0) {
      recordedAgain = true;
      continue;
    }
    // A reload that did not clear systemd's "outdated" flag would not clear it the second
    // time either: plan the rest of the node without it (the next pass asks again), rather
    // than spin or leave every other app waiting.
    const reloadOnly = actionable.length === 1 && actionable[0]!.kind === 'daemonReload';
    if (reloadOnly && lastWasReloadOnly) {
      if (fruitlessReload) break;
      fruitlessReload = actionable[0];
      continue;
    }
    lastWasReloadOnly = reloadOnly;
    const backoff = backoffStore(view.observed.backoff);
    const executors = makeExecutors({
      unitRoot: sv.paths.unitRoot,
      systemctl: sv.systemctl,
      podman: sv.podman,
      desired: view.desired,
      backoff,
      changeState: (change) => changeState(sv, change).then(() => undefined),
      readState: () => readState(sv.paths.stateDir),
      recordSecretId: (name, id) => recordSecretId(sv.paths.stateDir, name, id),
      recordTemplateInput: (secret, key) => recordTemplateInput(sv.paths.stateDir, secret, key),
      hookLogDir: join(sv.paths.stateDir, 'hooks'),
      stateDir: sv.paths.stateDir,
      clock: sv.clock,
      ...(sv.networkHelpers ? { networkHelpers: sv.networkHelpers } : {}),
    });
    applied.push(await applySteps(actionable, executors, (o) => logOutcome(sv.log, o)));
    if (backoff.changed()) await writeBackoff(sv.paths.stateDir, backoff.entries());
    // A batch that only failed would fail the same way again at once: leave it to the next pass.
    if (applied[applied.length - 1]!.every((o) => !o.ok)) break;
  }
  // Apps that no pass can move until a person acts: an unusable manifest, a foreign file
  // with one of their unit names, new units Quadlet rejects.
  // The reload this pass gave up on is still owed: report it, so the pass is not converged.
  if (fruitlessReload && !pending.some((s) => s.kind === 'daemonReload')) pending = [fruitlessReload, ...pending];
  const errors = [
    ...(desired?.apps ?? []).filter((a) => a.error).map((a) => ({ app: a.id, message: a.error! })),
    ...pending.flatMap((s) => (s.kind === 'wait' && s.held ? [{ app: s.app, message: s.reason }] : [])),
  ];
  const outcomes = applied.flat();
  if (outcomes.length > 0) {
    const slowest = outcomes.reduce((a, b) => (b.ms > a.ms ? b : a));
    const ms = Math.round(performance.now() - t0);
    sv.log.info(
      {
        durationMs: ms,
        batches: applied.length,
        steps: outcomes.length,
        slowest: `${slowest.step.kind} ${slowest.step.app ?? ''} ${slowest.ms} ms`.trim(),
      },
      'pass timing',
    );
  }
  return { report: { applied, pending, converged: pending.length === 0, errors }, view: lastView };
}

/**
 * Bookkeeping at the end of a pass, like the render cache: apps that run settled on files
 * that are not their last good set yet have them recorded as it (see lastGoodDue). No
 * systemctl, no Podman: a file and the state. A failure only means a later pass does it.
 * How many it recorded.
 */
async function recordLastGoodSets(sv: Supervisor, view: View, pending: Step[]): Promise<number> {
  let recorded = 0;
  for (const { app, hash } of lastGoodDue(view.desired, view.observed, pending)) {
    const rendered = view.desired.apps.find((a) => a.id === app)!.rendered!;
    const recordedAt = new Date(sv.clock.nowMs()).toISOString();
    try {
      await writeLastGood(sv.paths.stateDir, app, { version: 1, hash, rendered, recordedAt });
      await changeState(sv, (s) => {
        const a = s.apps[app];
        if (a && a.intent === 'running')
          a.lastGood = { hash, recordedAt, ...(rendered.version ? { version: rendered.version } : {}) };
      });
      sv.log.info({ app, hash }, 'runs healthy: its units are recorded as its last good set');
      recorded++;
    } catch (e) {
      sv.log.warn({ app, err: (e as Error).message }, 'last good set not recorded (a later pass tries again)');
    }
  }
  return recorded;
}

/** Crash-loop backoff as the steps of one batch leave it: set and cleared here, persisted by the pass. */
export interface BackoffStore {
  set(unit: string, entry: BackoffEntry): void;
  clear(unit: string): void;
  changed(): boolean;
  entries(): Record<string, BackoffEntry>;
}

export function backoffStore(initial: Readonly<Record<string, BackoffEntry>>): BackoffStore {
  const entries = new Map(Object.entries(initial));
  let changed = false;
  return {
    set(unit, entry) {
      entries.set(unit, entry);
      changed = true;
    },
    clear(unit) {
      changed = entries.delete(unit) || changed;
    },
    changed: () => changed,
    entries: () => Object.fromEntries(entries),
  };
}
