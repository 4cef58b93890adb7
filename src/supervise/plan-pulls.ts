import type { DesiredApp, DesiredContainer, Observed, Step } from './types.js';
import { BACKOFF } from './plan-steps.js'; // used at call time only: the import cycle is harmless
import { backoffFrom, backoffRemainingMs } from './clock-marks.js';

// Pull first (issue 13): the new image of a running app's container is pulled while the old
// version keeps running, and its new unit file is written only once the image is in the
// store. A failed pull leaves the old version running and the new files unwritten, and is
// tried again with backoff. Otherwise the unit's own start would pull (Pull=missing), with
// the old container already stopped: a long download is downtime, a failed one a dead app.
// The pull runs in a transient unit (never in the pass: a 2 GB image takes minutes) whose
// description carries the image it pulls, read back as the unit's key.

/** The transient unit that pulls a container's image: `archy-quadlet-pull-<service>`. */
export function pullUnitOf(service: string): string {
  return `archy-quadlet-pull-${service}`;
}

/**
 * Containers whose new image is fetched before an update's switch: from a registry (not
 * Pull=never), or built here (a local build's tag names its context's content: a new tag
 * is a new image to build).
 */
export function pullableContainers(app: DesiredApp): DesiredContainer[] {
  return (app.rendered?.containers ?? []).filter(
    (c) => c.image && (c.buildArgv !== undefined || (!c.buildService && c.pull !== 'never')),
  );
}

/** The .build file a build service is generated from (`x-build.service` → `x.build`). */
export function buildFileOf(buildService: string): string {
  return `${buildService.replace(/-build\.service$/, '')}.build`;
}

/** The file a pull unit's output goes to, in the app's hook log directory. */
export function pullLogName(unit: string): string {
  return `${unit.replace(/\.service$/, '')}.log`;
}

/** A pull's timeout: a slow link may need long for a large image; a hung one must end. */
export const PULL_TIMEOUT_SEC = 3600;

export interface PullPlan {
  /** Images still to be pulled: the app's new unit files wait for them. */
  blocking: boolean;
  steps: Step[];
}

/** A pull unit whose `podman pull` still runs (a simple service: active/running; or on its way). */
export function pullRunning(u: { activeState: string; subState: string; jobQueued?: true }): boolean {
  return (
    u.jobQueued === true ||
    ['activating', 'deactivating', 'reloading'].includes(u.activeState) ||
    (u.activeState === 'active' && u.subState !== 'exited')
  );
}

/**
 * The pulls a running app needs before its changed unit files (`changing`: file names about
 * to be created or rewritten) are written, and the clearing of pull units no longer needed
 * (for an app not running, pass an empty `changing`). Pure.
 */
export function planPulls(app: DesiredApp, o: Observed, changing: Set<string>): PullPlan {
  const steps: Step[] = [];
  let blocking = false;
  const pullable = new Set(pullableContainers(app));
  const installed = (o.files[app.id] ?? []).some((f) => f.owned);
  // Every container's: a pull started before the manifest turned to `pull: never` or a local
  // build is cleared too.
  for (const c of app.rendered?.containers ?? []) {
    const unit = pullUnitOf(c.service);
    const u = o.units[unit];
    const loaded = u !== undefined && u.loadState !== 'not-found';
    // A local build is built first only for an update: at an install its .build unit builds
    // it once, before the container's first start.
    const missing =
      pullable.has(c) &&
      (changing.has(c.file) || (c.buildService !== undefined && changing.has(buildFileOf(c.buildService)))) &&
      (o.missingImages ?? []).includes(c.image!) &&
      (!c.buildArgv || installed);
    const backoff = o.backoff[unit];
    if (!missing) {
      // Pulled, or no longer wanted (the manifest went back, the app stops or goes): the unit
      // and its backoff go.
      if (loaded && u.activeState === 'failed')
        steps.push({ kind: 'resetFailed', app: app.id, units: [unit], reason: 'pull no longer needed' });
      else if (loaded && u.activeState === 'active' && u.subState === 'exited')
        steps.push({ kind: 'stop', app: app.id, units: [unit], reason: `pulled ${u.hookKey ?? 'its image'}` });
      else if (loaded && u.activeState !== 'inactive' && u.activeState !== 'deactivating')
        steps.push({ kind: 'stop', app: app.id, units: [unit], reason: 'pull no longer needed' });
      if (backoff && !(loaded && pullRunning(u)))
        steps.push({ kind: 'clearBackoff', app: app.id, unit, reason: 'no pull pending' });
      continue;
    }
    blocking = true;
    const image = c.image!;
    const base = { app: app.id, unit } as const;
    if (loaded && u.hookKey !== image && u.activeState !== 'inactive') {
      // A pull of another image (an older manifest's), left running or failed: out of the way.
      if (u.activeState === 'deactivating')
        steps.push({ kind: 'wait', ...base, reason: 'a pull of another image is stopping' });
      else
        steps.push(
          u.activeState === 'failed'
            ? { kind: 'resetFailed', app: app.id, units: [unit], reason: 'clearing a pull of another image' }
            : { kind: 'stop', app: app.id, units: [unit], reason: 'clearing a pull of another image' },
        );
      continue;
    }
    if (loaded && u.hookKey === image) {
      if (pullRunning(u)) {
        const doing = c.buildArgv ? 'building' : 'pulling';
        steps.push({ kind: 'wait', ...base, reason: `${doing} ${image} (the running version stays up meanwhile)` });
        continue;
      }
      if (u.activeState === 'active' || u.activeState === 'failed') {
        // Counted once, as it is cleared: the next try comes after the backoff. A pull that
        // succeeded although the image is still not found (removed since, a reference the
        // store resolves otherwise) counts too: never a pull loop.
        const failures = (backoff?.failures ?? 0) + 1;
        const delaySec = Math.min(BACKOFF.capSec, BACKOFF.baseSec * 2 ** (failures - 1));
        const why =
          u.activeState === 'active'
            ? 'pulled, yet not found in the store'
            : (o.pullFailures?.[unit] ?? `exit status ${u.execMainStatus}`);
        steps.push(
          {
            kind: 'setBackoff',
            ...base,
            failures,
            ...backoffFrom(o, delaySec * 1000),
            reason: `${c.buildArgv ? 'build' : 'pull'} of ${image} failed ${failures} time(s): next try no sooner than ${delaySec} s`,
          },
          u.activeState === 'failed'
            ? { kind: 'resetFailed', app: app.id, units: [unit], reason: `pull of ${image} failed` }
            : { kind: 'stop', app: app.id, units: [unit], reason: `pull of ${image}: ${why}` },
          {
            kind: 'wait',
            ...base,
            reason: `${c.buildArgv ? 'build' : 'pull'} of ${image} failed (${why}): the running version stays; next try in ${delaySec} s`,
          },
        );
        continue;
      }
    }
    if (backoff && backoffRemainingMs(backoff, o) > 0) {
      const sec = Math.ceil(backoffRemainingMs(backoff, o) / 1000);
      steps.push({
        kind: 'wait',
        ...base,
        reason: `pull of ${image} failed ${backoff.failures} time(s): the running version stays; next try in ${sec} s`,
      });
      continue;
    }
    steps.push(
      c.buildArgv
        ? {
            kind: 'buildImage',
            ...base,
            image,
            argv: c.buildArgv,
            reason: `new image ${image} built before the switch (the running version stays up)`,
          }
        : {
            kind: 'pullImage',
            ...base,
            image,
            reason: `new image ${image} pulled before the switch (the running version stays up)`,
          },
    );
  }
  return { blocking, steps };
}
