import { createHash } from 'node:crypto';
import { elapsedMs, switchMarkOf } from './clock-marks.js';
import type { Desired, DesiredApp, Observed, DesiredContainer, RenderedApp, Step, UnitStatus } from './types.js';
import { failureOf } from './plan-adoption.js';
import { buildFileOf } from './plan-pulls.js';
import { planStopped, runsOlderFile, startedMs } from './plan-steps.js'; // used at call time only: the import cycle is harmless

// Updates that cannot strand an app (issue 13). A running app whose unit files change is
// updated, not just restarted:
// - The files it ran healthy on are its last good set (recorded by the pass once the app has
//   settled: see lastGoodDue; kept in the state dir with the rendering they came from). An app
//   updated before that (moments after its install) keeps the files it runs on as it.
// - Before any new file is written the update is recorded (beginUpdate, alone in its batch):
//   a kill -9 or a reboot after that finds the record and goes on from it.
// - The gate (planUpdateSwitch) watches the new units: every container active (one with a
//   health check is active only once healthy), none failed or restarted since the switch,
//   within its start timeout. Then the new set becomes the last good one (recordLastGood).
// - Otherwise updateRollBack: from then on the app's desired rendering is its last good set
//   (load-desired.ts substitutes it), so the usual steps write and restart the old units;
//   once they run, the app is rolled back, and the same new files are not tried again until
//   the manifest changes or `archy-quadlet update APP --retry`.

const SEC = 1_000_000; // µs
/** A container without a health check counts as good once active this long (one that exits at once is caught). */
export const UPDATE_SETTLE_SEC = 5;
/** Beyond the longest start timeout, before an update whose units never settled is rolled back. */
export const UPDATE_DEADLINE_GRACE_SEC = 120;

/** The identity of a set of unit files: names and contents. */
export function filesHash(files: ReadonlyArray<{ name: string; content: string }>): string {
  const h = createHash('sha256');
  for (const f of [...files].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)))
    h.update(f.name).update('\0').update(f.content).update('\0');
  return h.digest('hex').slice(0, 16);
}

/** The hash of the app's own files on disk (those archy-quadlet wrote). */
export function diskHash(app: DesiredApp, o: Observed): string {
  return filesHash((o.files[app.id] ?? []).filter((f) => f.owned));
}

/**
 * The step that records an update before the app's changed files are written (planned alone
 * for the app: its files are written in the next batch), or undefined when the change is no
 * update: the app does not run, it is not on its last good set (never up on its files, or
 * edited by hand: nothing to go back to), or the files written are the last good set itself
 * (a rollback, a repair).
 */
export function beginUpdateStep(app: DesiredApp, o: Observed): Step | undefined {
  if (app.intent !== 'running' || !app.rendered || app.adoption) return undefined;
  const fromHash = app.lastGoodHash ?? runningSetHash(app, o);
  if (!fromHash) return undefined;
  const toHash = filesHash(app.rendered.files);
  if (toHash === fromHash) return undefined;
  const u = app.update;
  if (u?.phase === 'switching' && u.toHash === toHash) return undefined; // begun: its files are being written
  // A snapshot to put back first: a new update starts from the data the last good set wrote.
  if (restorePending(app)) return undefined;
  const up = app.rendered.containers.some((c) =>
    ['active', 'activating', 'reloading'].includes(o.units[c.service]?.activeState ?? ''),
  );
  // Not running and no update under way (one stopped for its snapshot's restore is): no update.
  if (!up && !(u?.phase === 'switching' || u?.phase === 'rollingBack')) return undefined;
  // An update under way (another new set while switching, or after a rollback): the last
  // good set is still the one to go back to, whatever is on disk now.
  if (!u && diskHash(app, o) !== fromHash) return undefined;
  const version = app.rendered.version;
  return {
    kind: 'beginUpdate',
    app: app.id,
    toHash,
    fromHash,
    ...(version ? { toVersion: version } : {}),
    ...(app.lastGoodHash ? {} : { recordRunning: true }),
    reason: `update${version ? ` to ${version}` : ''}: its units that run now are kept as the last good set${
      app.lastGoodHash ? '' : ' (recorded now: it had none yet)'
    }`,
  };
}

/**
 * An app with no last good set yet whose manifest changed moments after it started (before a
 * pass saw it settled): the hash of the files it runs on, when they are one of its earlier
 * renderings and every container of theirs is up on them (healthy where checked), so that the
 * update keeps them as the set to go back to. Without the settling time: they are what runs,
 * and nothing better exists to return to.
 */
function runningSetHash(app: DesiredApp, o: Observed): string | undefined {
  if (!app.earlierRenderings?.length || app.update) return undefined;
  const running = runningRendering(app, diskHash(app, o));
  return running && settled({ ...app, rendered: running }, o, [], 0).ok ? filesHash(running.files) : undefined;
}

/** The earlier rendering of the app (see DesiredApp.earlierRenderings) whose files hash to `hash`. */
export function runningRendering(app: DesiredApp, hash: string): RenderedApp | undefined {
  return app.earlierRenderings?.find((r) => filesHash(r.files) === hash);
}

/** Steps that mean the app is still being moved (its units written, started, restarted...). */
const MOVING = new Set<Step['kind']>([
  'writeUnit',
  'removeUnit',
  'daemonReload',
  'start',
  'restart',
  'resetFailed',
  'stop',
  'stopContainer',
  'clearStaleContainer',
  'renderTemplate',
  'ensureSecret',
  'pullImage',
  'buildImage',
]);

/**
 * Whether the app runs as its rendering says, every container active (for one without a
 * health check, for UPDATE_SETTLE_SEC), with nothing left to do for it; else what it waits for.
 */
export function settled(
  app: DesiredApp,
  o: Observed,
  usual: Step[],
  settleSec = UPDATE_SETTLE_SEC,
): { ok: true } | { ok: false; why: string } {
  const hookUnits = new Set((app.rendered?.hooks ?? []).map((h) => h.unit));
  const moving = usual.find(
    (s) =>
      s.app === app.id &&
      (MOVING.has(s.kind) ||
        s.kind === 'runHook' ||
        s.kind === 'hookDone' ||
        (s.kind === 'wait' && s.unit !== undefined && hookUnits.has(s.unit))),
  );
  if (moving) return { ok: false, why: moving.reason };
  if (!app.rendered || diskHash(app, o) !== filesHash(app.rendered.files))
    return { ok: false, why: 'its unit files are being written' };
  const files = o.files[app.id] ?? [];
  for (const c of app.rendered.containers) {
    const u = o.units[c.service];
    if (u?.activeState !== 'active') return { ok: false, why: `${c.service} is ${u?.activeState ?? 'not loaded'}` };
    // Still the process of an older file (its restart held, say): not the new version yet.
    const names = [c.file, c.buildService ? buildFileOf(c.buildService) : undefined];
    if (files.some((f) => names.includes(f.name) && runsOlderFile(f, u, o)))
      return { ok: false, why: `${c.service} still runs its previous unit file` };
    if (!c.readiness && !c.oneshot && o.nowMono - u.activeEnterMono < settleSec * SEC)
      return { ok: false, why: `${c.service} is active: watched for ${settleSec} s before it counts` };
  }
  return { ok: true };
}

/**
 * Switching: the usual steps of the app while its new units start, until they are healthy
 * (recordLastGood: the update is done) or not (updateRollBack). Pure.
 */
export function planUpdateSwitch(app: DesiredApp, o: Observed, usual: Step[]): Step[] {
  const id = app.id;
  const update = app.update!;
  const held = usual.find((s) => s.kind === 'wait' && s.held);
  if (held) return [rollBack(id, held.reason)];
  // The manifest went back to the last good set while the new one was watched: put back as a
  // rollback is (its snapshot included), and the record says so.
  if (app.rendered && filesHash(app.rendered.files) === app.lastGoodHash)
    return [rollBack(id, 'the manifest went back to the last good set')];
  const containers = app.rendered?.containers ?? [];
  const switched = switchMarkOf(update);
  // Started at most `slackMs` before the switch, or since. On the monotonic clock within the
  // switch's boot (a wall-clock jump does not move it); after a reboot every start is since.
  const startedSince = (u: UnitStatus, slackMs: number) =>
    switched.atMono !== undefined && switched.bootId !== undefined && switched.bootId === o.bootId
      ? u.execMainStartMono >= switched.atMono - slackMs * 1000
      : startedMs(u, o) >= update.switchedAtMs - slackMs;
  let sinceLastStartMs = Number.POSITIVE_INFINITY;
  let pending: string | undefined;
  for (const c of containers) {
    const u = o.units[c.service];
    if (!u || u.execMainStartMono <= 0) continue;
    sinceLastStartMs = Math.min(sinceLastStartMs, (o.nowMono - u.execMainStartMono) / 1000);
    // Started since the switch (a second of slack between the clocks): what it does now is the
    // new version's.
    if (!startedSince(u, 1000)) continue;
    const failure = failureOf(u);
    if (failure) {
      // Restarted by systemd (its health check killed it, say) while a provider it talks to
      // had just restarted: lnd right after bitcoind's own update. Not the release's fault
      // until it shows otherwise: judged by whether it gets healthy by the deadline. A unit
      // that failed for good (a crash loop ends at its start limit) is judged at once.
      const provider = u.activeState === 'failed' ? undefined : providerMovedLately(c, o);
      if (!provider) return [rollBack(id, `${c.service} ${failure}`)];
      pending ??= `${c.service} ${failure}, while its provider ${provider} had just restarted: judged by whether it gets healthy`;
    }
    if (
      u.activeState === 'activating' &&
      u.subState !== 'auto-restart' &&
      o.nowMono - u.execMainStartMono > c.startTimeoutSec * SEC
    )
      return [rollBack(id, `${c.service} was not healthy within its start timeout (${c.startTimeoutSec} s)`)];
  }
  const s = settled(app, o, usual);
  const to = update.toVersion ? ` to ${update.toVersion}` : '';
  if (s.ok)
    return [
      ...usual,
      {
        kind: 'recordLastGood',
        app: id,
        hash: update.toHash,
        reason: `updated${to}: healthy on its new units, which become the last good set`,
      },
    ];
  // A safety net from the switch or the last start (a node that was off since counts from its
  // boot): units that never even get healthy. Monotonic within the boot, wall clock across one.
  const longest = Math.max(0, ...containers.map((c) => c.startTimeoutSec));
  const limitSec = longest + UPDATE_DEADLINE_GRACE_SEC;
  if (Math.min(elapsedMs(switched, o), sinceLastStartMs) > limitSec * 1000)
    return [rollBack(id, `not healthy within ${limitSec} s (${s.why})`)];
  return [...usual, { kind: 'wait', app: id, reason: `updating${to}: ${pending ?? s.why}` }];
}

/**
 * The provider service a container waits for that is down, or started less than the
 * container's start timeout ago: what the container's checks meet may be the provider's
 * restart, not the new version. Measured from now, so the excuse ends that long after the
 * provider settled: a dependent that keeps restarting against a steady provider is judged.
 */
function providerMovedLately(c: DesiredContainer, o: Observed): string | undefined {
  for (const w of c.waitsFor) {
    const p = o.units[w.service];
    if (p?.activeState !== 'active' || o.nowMono - p.execMainStartMono < c.startTimeoutSec * SEC) return w.service;
  }
  return undefined;
}

/** Rolling back: the usual steps put the last good set back (it is the desired rendering now), until it runs. */
export function planUpdateRollingBack(app: DesiredApp, o: Observed, usual: Step[]): Step[] {
  const why = app.update?.reason ?? 'no reason recorded';
  const s = settled(app, o, usual);
  if (s.ok)
    return [
      ...usual,
      { kind: 'updateRolledBack', app: app.id, reason: `rolled back: the last good set runs again (${why})` },
    ];
  // A last good set that does not come back either (its image gone, its data changed under
  // it) ends the rollback all the same after the same deadline as an update's: the app is
  // then on its last good set like any other, restarted with backoff and shown failing, and
  // its dependents are no longer held for it.
  const mark = app.update?.rollingBackAt;
  const containers = app.rendered?.containers ?? [];
  const limitSec = Math.max(0, ...containers.map((c) => c.startTimeoutSec)) + UPDATE_DEADLINE_GRACE_SEC;
  let sinceLastStartMs = Number.POSITIVE_INFINITY;
  for (const c of containers) {
    const u = o.units[c.service];
    if (u && u.execMainStartMono > 0)
      sinceLastStartMs = Math.min(sinceLastStartMs, (o.nowMono - u.execMainStartMono) / 1000);
  }
  if (mark && Math.min(elapsedMs(mark, o), sinceLastStartMs) > limitSec * 1000)
    return [
      ...usual,
      {
        kind: 'updateRolledBack',
        app: app.id,
        unhealthy: s.why,
        reason: `rolled back (${why}), but the last good set is not healthy within ${limitSec} s either: ${s.why}`,
      },
    ];
  return [...usual, { kind: 'wait', app: app.id, reason: `rolling back (${why}): ${s.why}` }];
}

function rollBack(app: string, why: string): Step {
  return { kind: 'updateRollBack', app, why, reason: `update failed: ${why}: rolling back to the last good set` };
}

/**
 * Apps that run settled on files that are not their last good set yet (a fresh install, an
 * app from before last good sets, an update that the gate did not watch): the pass records
 * them, as it keeps the render cache. Not while an update or an adoption is under way: their
 * gates decide. `pending`: what the planner says is left to do now.
 */
export function lastGoodDue(desired: Desired, o: Observed, pending: Step[]): Array<{ app: string; hash: string }> {
  return desired.apps.flatMap((app) => {
    if (app.intent !== 'running' || !app.rendered || app.adoption) return [];
    if (app.update && app.update.phase !== 'rolledBack') return [];
    const hash = filesHash(app.rendered.files);
    if (hash === app.lastGoodHash) return [];
    // A partial plan (planSteps returns files and their reload, or updates being recorded,
    // alone): the app's own hooks and waits are not in it, so it cannot be judged now.
    if (pending.some((s) => s.app === undefined || s.kind === 'beginUpdate')) return [];
    return settled(app, o, pending).ok ? [{ app: app.id, hash }] : [];
  });
}

/**
 * Once an app with local builds runs settled on its last good set, the images built for it
 * before (older builds of its contexts, a release that was rolled back) are no version it can
 * go back to any more: they go, once per recorded set. Only images labelled as the app's and
 * used by no container; the set's own builds are kept by tag.
 */
export function pruneBuildsStep(app: DesiredApp, o: Observed, usual: Step[]): Step[] {
  if (app.intent !== 'running' || !app.rendered || app.update || app.adoption || app.lastGoodBuildsPruned) return [];
  const keep = app.rendered.containers.flatMap((c) => (c.buildService && c.image ? [c.image] : []));
  if (keep.length === 0 || app.lastGoodHash !== filesHash(app.rendered.files)) return [];
  if (!settled(app, o, usual).ok) return [];
  return [
    {
      kind: 'pruneBuilds',
      app: app.id,
      keep: [...new Set(keep)].sort(),
      hash: app.lastGoodHash,
      reason: 'runs settled on its last good set: the images built for it before go',
    },
  ];
}

/**
 * Volumes to export before the new containers start (snapshotBeforeUpdate), while the
 * snapshot is not taken yet: the new files wait, and the old containers are stopped first
 * (a database is exported at rest, never mid-write).
 */
export function snapshotPending(app: DesiredApp): boolean {
  return (
    app.update?.phase === 'switching' &&
    app.update.snapshot === undefined &&
    (app.rendered?.snapshotVolumes?.length ?? 0) > 0
  );
}

/** Rolling back, with a snapshot not yet put back: the containers stop, then the volumes are restored. */
export function restorePending(app: DesiredApp): boolean {
  return app.update?.phase === 'rollingBack' && app.update.snapshot !== undefined && app.update.restored !== true;
}

/**
 * The app's containers stopped (as a stop of the app stops them), then the volume step:
 * the snapshot of an update, or its restore on a rollback.
 */
export function planVolumeStep(app: DesiredApp, o: Observed, containerServices: string[]): Step[] {
  const restoring = app.update?.phase === 'rollingBack';
  const stopping = planStopped(app, o, containerServices)
    .filter((s) => s.kind !== 'clearBackoff' && s.kind !== 'resetFailed')
    .map((s) =>
      s.kind === 'stop'
        ? {
            ...s,
            reason: restoring
              ? 'rolling back: stopped before its data is put back as it was before the update'
              : 'update: stopped, so that its data is exported at rest before the new version starts',
          }
        : s,
    );
  // A snapshot that cannot be taken (a full disk, say) must not keep the app down: after the
  // deadline the update is given up, and the last good set runs again.
  if (!restoring) {
    const stopSec = Math.max(0, ...(app.rendered?.containers ?? []).map((c) => c.stopTimeoutSec));
    const limitSec = stopSec + UPDATE_DEADLINE_GRACE_SEC;
    if (elapsedMs(switchMarkOf(app.update!), o) > limitSec * 1000)
      return [rollBack(app.id, `its volumes could not be snapshotted within ${limitSec} s`)];
  }
  const up = containerServices.some((svc) =>
    ['active', 'activating', 'deactivating', 'reloading'].includes(o.units[svc]?.activeState ?? ''),
  );
  if (stopping.length > 0 || up)
    return stopping.length > 0 ? stopping : [{ kind: 'wait', app: app.id, reason: 'stopping before its snapshot' }];
  if (restoring) {
    const volumes = app.update!.snapshot!.volumes;
    return [
      {
        kind: 'restoreVolumes',
        app: app.id,
        volumes,
        reason: `rolling back: ${volumes.join(', ')} put back as they were before the update`,
      },
    ];
  }
  const volumes = app.rendered!.snapshotVolumes!;
  return [
    {
      kind: 'snapshotVolumes',
      app: app.id,
      volumes,
      reason: `update: ${volumes.join(', ')} exported before the new version starts (put back if it is rolled back)`,
    },
  ];
}
