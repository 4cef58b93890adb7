import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { readUnitDir } from '../output/unit-dir.js';
import type { Desired, Observed, ObservedFile } from './types.js';
import type { Systemctl } from './systemctl.js';
import type { Podman } from './podman.js';
import { needsPodman, serviceOfFile } from './plan-steps.js';
import type { BackoffEntry, HostPort } from './types.js';
import { busyPorts } from './host-ports.js';

async function quadletServices(appDirs: string[]): Promise<Set<string> | undefined> {
  const { findQuadlet, runQuadletDryRun } = await import('../output/quadlet-generator.js');
  const bin = await findQuadlet(process.env);
  if (!bin) return undefined;
  return new Set((await runQuadletDryRun(bin, appDirs)).services.keys());
}

const APP_DIR = /^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

export interface Clock {
  nowMs(): number;
  /** CLOCK_MONOTONIC in µs: the clock of systemd's *TimestampMonotonic properties. */
  nowMono(): number;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  nowMono: () => Number(process.hrtime.bigint() / 1000n),
};

export interface ObserveDeps {
  unitRoot: string;
  systemctl: Systemctl;
  podman: Podman;
  clock: Clock;
  backoff: Record<string, BackoffEntry>;
  /**
   * The services Quadlet generates now from these app directories (default: the real
   * generator's dry run; undefined when it is not installed).
   */
  quadletServices?: (appDirs: string[]) => Promise<Set<string> | undefined>;
  /** Which of these host ports something holds (default: binds each for a moment). */
  busyPorts?: (ports: HostPort[]) => Promise<string[]>;
}

/**
 * What is: our unit files, one `systemctl --user show` for every unit of ours, and Podman
 * only when some app is on its way somewhere (a converged node costs no Podman process).
 */
export async function observe(desired: Desired, d: ObserveDeps): Promise<Observed> {
  const nowMs = d.clock.nowMs();
  const nowMono = d.clock.nowMono();
  // systemctl (for the units the manifests name) runs while the unit files are read.
  const known = new Set<string>();
  for (const app of desired.apps) for (const s of app.spec?.services ?? []) known.add(s);
  const shown = d.systemctl.show([...known].sort());
  // Awaited below, after the files are read: until then a failure must not count as unhandled
  // (Node would end the process with a stack trace instead of our message).
  shown.catch(() => undefined);
  const ids = [...new Set([...desired.apps.map((a) => a.id), ...(await appDirs(d.unitRoot))])];
  const lists = await Promise.all(ids.map((id) => readUnitDir(join(d.unitRoot, id))));
  const files: Record<string, ObservedFile[]> = {};
  ids.forEach((id, i) => {
    const list = lists[i]!;
    if (list.length === 0) return;
    files[id] = list.map((f) => ({
      name: f.name,
      content: f.content,
      owned: f.owned !== undefined,
      intact: f.owned?.intact ?? false,
      mtimeMono: nowMono - Math.round((nowMs - (f.mtimeMs ?? nowMs)) * 1000),
    }));
  });
  // Units known only from files (apps no longer installed, or held): asked about separately.
  const extra = new Set<string>();
  for (const list of Object.values(files)) for (const f of list) if (f.owned) extra.add(serviceOfFile(f.name) ?? '');
  extra.delete('');
  for (const s of known) extra.delete(s);
  const units = { ...(await shown), ...(extra.size > 0 ? await d.systemctl.show([...extra].sort()) : {}) };
  const observed: Observed = { nowMs, nowMono, files, units, backoff: d.backoff };
  // Rare: a unit of ours systemd does not know though its file is there. Quadlet tells a lost
  // reload (it generates the unit) from a rejected file (it does not).
  const unknown = Object.entries(files).flatMap(([id, list]) =>
    list.filter((f) => f.owned).flatMap((f) => {
      const svc = serviceOfFile(f.name);
      return svc && (units[svc]?.loadState ?? 'not-found') === 'not-found' ? [{ id, svc }] : [];
    }),
  );
  if (unknown.length > 0) {
    const generated = await (d.quadletServices ?? quadletServices)([...new Set(unknown.map((u) => join(d.unitRoot, u.id)))]);
    if (generated) observed.generatedNow = Object.fromEntries(unknown.map((u) => [u.svc, generated.has(u.svc)]));
  }
  if (needsPodman(desired, units, files)) {
    // Containers too: one left from an older run may be in the way of a start.
    [observed.secrets, observed.containers] = await Promise.all([d.podman.secrets(), d.podman.containers()]);
    if (desired.apps.some((a) => a.intent === 'absent')) {
      [observed.networks, observed.images] = await Promise.all([d.podman.networks(), d.podman.images()]);
      if (desired.apps.some((a) => a.intent === 'absent' && a.purge)) observed.volumes = await d.podman.volumes();
    }
    // The host ports of containers about to start: one still held would fail the start.
    const toStart = desired.apps
      .filter((a) => a.intent === 'running')
      .flatMap((a) => a.spec?.containers ?? [])
      .filter((c) => ['inactive', 'failed'].includes(units[c.service]?.activeState ?? ''));
    const ports = toStart.flatMap((c) => c.hostPorts ?? []);
    if (ports.length > 0) observed.busyPorts = await (d.busyPorts ?? busyPorts)(ports);
  }
  return observed;
}

async function appDirs(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { withFileTypes: true })).filter((e) => e.isDirectory() && APP_DIR.test(e.name)).map((e) => e.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
