import type { Supervisor, PassReport } from './supervisor.js';
import { currentView, requestPass } from './supervisor.js';
import { planSteps } from './plan-steps.js';
import { appProgress, defaultWaitSec, imagesToProbe, type Progress } from './progress.js';

export interface WaitOptions {
  /** Give up after this long; default: the app's own start (or stop) timeouts. */
  timeoutSec?: number | undefined;
  /** Called whenever what the app is doing changes (building, pulling, starting...). */
  onProgress?: (p: Progress & { elapsedSec: number }) => void;
  /** How often to look again. */
  pollMs?: number;
}

export interface WaitResult {
  /** Every pass's steps since the first report, and what is pending now. */
  report: PassReport;
  settled: boolean;
  /** Where the app was when the wait gave up. */
  progress?: Progress;
  limitSec: number;
}

/**
 * Whether nothing is left to do for this app (nor for the node as a whole, such as a
 * daemon-reload). Other apps' transitions do not count: `start web --wait` must not wait
 * for another app's ten-minute stop.
 */
export function appSettled(r: Pick<PassReport, 'pending'>, app: string): boolean {
  // Housekeeping (pruneBuilds) is no part of getting there.
  return !r.pending.some((s) => (s.app === app && s.kind !== 'pruneBuilds') || s.app === undefined);
}

/**
 * Waits until an app got where it was asked. Looks without the lock while things are only in
 * flight; when a step is due, asks for a pass (which another caller's pass may serve).
 * Podman is asked only while a container is starting (is it pulling? waiting for health?).
 */
export async function waitFor(
  sv: Supervisor,
  app: string,
  change: string,
  first: PassReport,
  o: WaitOptions = {},
): Promise<WaitResult> {
  const started = sv.clock.nowMs();
  let report = first;
  let progress: Progress | undefined;
  let lastText = '';
  let limitSec = o.timeoutSec;
  let view = await currentView(sv);
  for (;;) {
    const desiredApp = view.desired.apps.find((x) => x.id === app);
    limitSec ??= defaultWaitSec(desiredApp, change);
    if (desiredApp && !appSettled(report, app)) {
      const starting = (desiredApp.rendered?.containers ?? []).some((c) => {
        const u = view.observed.units[c.service];
        return u?.activeState === 'activating' && u.subState !== 'auto-restart';
      });
      const containers = starting ? await sv.podman.appContainers(app).catch(() => ({})) : {};
      const images: Record<string, boolean> = {};
      for (const ref of imagesToProbe(desiredApp, view.observed, containers))
        images[ref] = await sv.podman.imageExists(ref);
      progress = appProgress(desiredApp, view.observed, { containers, images });
      const text = JSON.stringify(progress);
      if (text !== lastText)
        o.onProgress?.({ ...progress, elapsedSec: Math.round((sv.clock.nowMs() - started) / 1000) });
      lastText = text;
    }
    if (appSettled(report, app)) return { report, settled: true, limitSec, ...(progress ? { progress } : {}) };
    if (sv.clock.nowMs() - started >= limitSec * 1000)
      return { report, settled: false, limitSec, ...(progress ? { progress } : {}) };
    await new Promise((r) => setTimeout(r, o.pollMs ?? 500));
    view = await currentView(sv);
    const planned = planSteps(view.desired, view.observed);
    let next: PassReport = { applied: [], pending: planned, converged: planned.length === 0, errors: [] };
    if (planned.some((s) => s.kind !== 'wait')) {
      next = await requestPass(sv);
      view = await currentView(sv);
    }
    report = { ...next, applied: [...report.applied, ...next.applied] };
  }
}
