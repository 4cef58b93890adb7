import type { DesiredApp, Observed } from './types.js';

// What a long operation is doing right now, for `--wait`: building, pulling, starting,
// waiting for the health check, stopping. Pure: unit states and a few Podman facts in.

export interface ContainerFacts {
  /** Container name → its state and health, for the app's containers that exist. */
  containers: Record<string, { state: string; health?: string }>;
  /** Image reference → whether it is in the store (asked only for units still starting without a container). */
  images: Record<string, boolean>;
}

export interface Progress {
  phase:
    | 'building'
    | 'pulling'
    | 'starting'
    | 'waiting for health'
    | 'restarting'
    | 'stopping'
    | 'rolling back'
    | 'running'
    | 'stopped';
  unit?: string;
  detail?: string;
}

/** Images worth asking about: of containers whose unit is starting and which have no container yet. */
export function imagesToProbe(app: DesiredApp, o: Observed, existing: Record<string, unknown>): string[] {
  return (app.rendered?.containers ?? [])
    .filter(
      (c) =>
        o.units[c.service]?.activeState === 'activating' &&
        !(c.containerName in existing) &&
        c.image &&
        !c.buildService,
    )
    .map((c) => c.image!);
}

export function appProgress(app: DesiredApp, o: Observed, f: ContainerFacts): Progress {
  if (app.update?.phase === 'rollingBack') return { phase: 'rolling back', detail: app.update.reason ?? '' };
  const containers = app.rendered?.containers ?? [];
  for (const c of containers) {
    const build = c.buildService ? o.units[c.buildService] : undefined;
    if (build?.activeState === 'activating') return { phase: 'building', unit: c.buildService!, detail: c.image ?? '' };
  }
  for (const c of containers) {
    const u = o.units[c.service];
    if (!u) continue;
    if (u.activeState === 'deactivating') return { phase: 'stopping', unit: c.service };
    if (u.activeState !== 'activating') continue;
    if (u.subState === 'auto-restart')
      return { phase: 'restarting', unit: c.service, detail: `after a crash (${u.nRestarts} restart(s))` };
    const ctr = f.containers[c.containerName];
    if (!ctr) {
      if (c.image && f.images[c.image] === false) return { phase: 'pulling', unit: c.service, detail: c.image };
      return { phase: 'starting', unit: c.service };
    }
    if (ctr.state === 'running' && c.readiness)
      return { phase: 'waiting for health', unit: c.service, detail: ctr.health ? `health: ${ctr.health}` : '' };
    return { phase: 'starting', unit: c.service, detail: `container ${ctr.state}` };
  }
  const up = containers.every((c) => o.units[c.service]?.activeState === 'active');
  return { phase: up && containers.length ? 'running' : 'stopped' };
}

/** How long `--wait` waits when not told: the app's own start (and stop) timeouts, summed over its containers. */
export function defaultWaitSec(app: DesiredApp | undefined, change: string): number {
  const cs = app?.rendered?.containers ?? [];
  if (cs.length === 0) return 600;
  const stop = cs.reduce((n, c) => n + c.stopTimeoutSec + 30, 0);
  const start = cs.reduce((n, c) => n + c.startTimeoutSec * (c.buildService ? 2 : 1), 0);
  if (change === 'stop' || change === 'uninstall' || change === 'purge') return stop;
  if (change === 'restart') return stop + start;
  // The new version's start, and a rollback's stop and start after its deadline.
  if (change === 'update') return stop * 2 + start * 2 + 120;
  return start;
}
