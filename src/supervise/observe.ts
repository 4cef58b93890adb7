import { readdir, readFile, stat } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readUnitDir, type ExistingFile } from '../fs/unit-dir.js';
import type { Desired, Observed, ObservedFile } from './types.js';
import type { Systemctl } from './systemctl.js';
import type { Podman } from './podman.js';
import { appsToCheck, checkContext, needsPodman, unitFilePlan } from './plan-steps.js';
import { buildFileOf, pullableContainers, pullLogName, pullUnitOf } from './plan-pulls.js';
import { adoptionInFlight } from './plan-adoption.js';
import type { BackoffEntry, HostPort, ReloadLog, UnitStatus } from './types.js';
import {
  containersToStat,
  fileStamp,
  nextSnapshot,
  reusableUnits,
  sameSnapshot,
  type UnitSnapshotStore,
} from './unit-snapshot.js';
import { isAppId, NODE_UNITS_DIR, serviceOfUnitFile } from '../names.js';
import type { AppUnits } from '../output/check-units.js';
import type { NetworkHelpersProbe } from '../podman-heal/network-helpers.js';

/** The real Quadlet generator, through its dry run (loaded only when a pass needs it). */
export interface QuadletCheck {
  /** The services Quadlet generates now from these directories; undefined when it is not installed. */
  servicesOf(appDirs: string[]): Promise<Set<string> | undefined>;
  /** Apps whose units it rejects, with its message; undefined when it is not installed. */
  rejections(apps: Map<string, AppUnits>): Promise<Record<string, string> | undefined>;
}

export function realQuadlet(
  env: Record<string, string | undefined>,
  unitRoot: string,
  stagingParent?: string,
): QuadletCheck {
  const bin = async () => (await import('../output/quadlet-generator.js')).findQuadlet(env);
  return {
    async servicesOf(appDirs) {
      const found = await bin();
      if (!found) return undefined;
      const { runQuadletDryRun } = await import('../output/quadlet-generator.js');
      return new Set((await runQuadletDryRun(found, appDirs)).services.keys());
    },
    async rejections(apps) {
      const found = await bin();
      if (!found) return undefined;
      const [{ checkWithGenerator, rejection }, cache] = await Promise.all([
        import('../output/check-units.js'),
        import('../output/verdict-cache.js'),
      ]);
      // Remembered in $XDG_RUNTIME_DIR (cleared at boot); without it, every call asks.
      const cachePath = stagingParent ? join(stagingParent, 'archy-quadlet.verdicts.json') : undefined;
      const stamp = await cache.generatorStamp(found);
      const keys = new Map([...apps].map(([id, units]) => [id, cache.verdictKey(stamp, units)]));
      const known = cachePath ? await cache.readVerdicts(cachePath) : {};
      const unknown = new Map([...apps].filter(([id]) => !(keys.get(id)! in known)));
      const fresh = unknown.size > 0 ? await checkWithGenerator(found, unknown, stagingParent, unitRoot) : new Map();
      const now: Record<string, string | null> = {};
      const out: Record<string, string> = {};
      for (const id of apps.keys()) {
        const key = keys.get(id)!;
        const why = key in known ? known[key]! : (rejection(fresh.get(id) ?? []) ?? null);
        now[key] = why;
        if (why) out[id] = why;
      }
      // Only the sets asked about now are kept: the cache never grows past the apps in flight.
      const same = Object.keys(known).length === Object.keys(now).length && Object.keys(now).every((k) => k in known);
      if (cachePath && !same) await cache.writeVerdicts(cachePath, now).catch(() => undefined);
      return out;
    },
  };
}

export interface Clock {
  nowMs(): number;
  /** CLOCK_MONOTONIC in µs: the clock of systemd's *TimestampMonotonic properties. */
  nowMono(): number;
  /** This boot's id: monotonic times of another boot are not comparable. */
  bootId?(): string | undefined;
}

export const systemClock: Clock = {
  nowMs: () => Date.now(),
  nowMono: () => Number(process.hrtime.bigint() / 1000n),
  bootId: () => {
    try {
      return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  },
};

export interface ObserveDeps {
  unitRoot: string;
  systemctl: Systemctl;
  podman: Podman;
  clock: Clock;
  backoff: Record<string, BackoffEntry>;
  /** The daemon-reloads of this boot (see Observed.reloads). */
  reloads?: ReloadLog | undefined;
  /** The real generator: what it makes of files on disk, and of files about to be written. */
  quadlet: QuadletCheck;
  /** Which of these host ports something holds. */
  busyPorts: (ports: HostPort[]) => Promise<string[]>;
  /** Which of these paths are not a file (missing, or a directory); by default `missingFiles` below. */
  missingFiles?: (paths: string[]) => Promise<string[]>;
  /** The recorded input keys of rendered templates (see secret-ids.ts); read only when an app has templates. */
  templateInputs?: () => Promise<Record<string, string>>;
  /** Where hooks' and pulls' output is kept (`<dir>/<app>/...`): a failed pull's reason is read there. */
  hookLogDir?: string;
  /** Rootless Podman's network helpers, from their files (no process): see podman-heal/network-helpers.ts. */
  networkHelpers?: () => Promise<NetworkHelpersProbe>;
  /** The last `show` of each unit, reused while it holds (unit-snapshot.ts); absent: every unit is shown. */
  unitSnapshot?: UnitSnapshotStore;
}

/** The paths given that are not there as a file: missing, unreadable, or a directory. */
export async function missingFiles(paths: string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined);
    if (!s || s.isDirectory()) missing.push(p);
  }
  return missing;
}

/** The transient units of ours: hooks (`hookUnit`) and pulls (`pullUnitOf`). */
export const TRANSIENT_UNIT_PATTERNS = ['archy-quadlet-hook-*', 'archy-quadlet-pull-*'];

/**
 * What is: our unit files; the state of every unit of ours in one `systemctl --user
 * list-units`, and one `show` of those whose last show does not hold (unit-snapshot.ts; with
 * no snapshot store, one `show` of all); Podman only when some app is on its way somewhere
 * (a converged node costs one systemctl process and no Podman process).
 */
export async function observe(desired: Desired, d: ObserveDeps): Promise<Observed> {
  const nowMs = d.clock.nowMs();
  const nowMono = d.clock.nowMono();
  // systemctl (for the units the manifests name) runs while the unit files are read.
  const known = new Set<string>();
  for (const app of desired.apps) for (const svc of app.rendered?.services ?? []) known.add(svc);
  // Hooks' and pulls' transient units by pattern: systemd expands a pattern to the units it
  // has loaded, so one that ran and was collected costs nothing, where asking for it by name
  // made systemd look for its file in every unit directory (0.6 s of a no-op pass at 200 apps,
  // measured). Every app's and container's: one left by a pull of an app since stopped or
  // uninstalled, or of a container since turned to `pull: never`, is cleared too.
  const names = known.size > 0 ? [...[...known].sort(), ...TRANSIENT_UNIT_PATTERNS] : [];
  // With a snapshot store (see unit-snapshot.ts): list every unit's state, and show only the
  // units whose last show no longer holds. Without one: show them all.
  const bootId = d.clock.bootId?.();
  const loadStamp = bootId && names.length > 0 ? await d.unitSnapshot?.loadStamp().catch(() => undefined) : undefined;
  const store = loadStamp ? d.unitSnapshot : undefined;
  const listing = store ? d.systemctl.list(names) : undefined;
  const shown = store ? undefined : d.systemctl.show(names);
  const snapshot = store?.read();
  const helpers = d.networkHelpers?.().catch(() => undefined);
  // Awaited below, after the files are read: until then a failure must not count as unhandled
  // (Node would end the process with a stack trace instead of our message).
  for (const p of [listing, shown, snapshot]) p?.catch(() => undefined);
  const ids = [...new Set([...desired.apps.map((a) => a.id), ...(await appDirs(d.unitRoot))])];
  const [nodeList, ...lists] = await Promise.all(
    [NODE_UNITS_DIR, ...ids].map((id) => readUnitDir(join(d.unitRoot, id))),
  );
  const observedFile = (f: ExistingFile): ObservedFile => ({
    name: f.name,
    content: f.content,
    owned: f.owned !== undefined,
    intact: f.owned?.intact ?? false,
    mtimeMono: nowMono - Math.round((nowMs - (f.mtimeMs ?? nowMs)) * 1000),
  });
  const files: Record<string, ObservedFile[]> = {};
  ids.forEach((id, i) => {
    const list = lists[i]!;
    if (list.length > 0) files[id] = list.map(observedFile);
  });
  // Units known only from files (apps no longer installed, or held): asked about separately.
  const extra = new Set<string>();
  for (const list of Object.values(files))
    for (const f of list) if (f.owned) extra.add(serviceOfUnitFile(f.name) ?? '');
  extra.delete('');
  for (const s of known) extra.delete(s);
  let units: Record<string, UnitStatus> | undefined;
  // A list-units that fails (or says what cannot be read) costs the snapshot, not the pass.
  const listed = await listing?.catch(() => undefined);
  if (store && listed) {
    const previous = await snapshot?.catch(() => undefined);
    // Read before the show: a file written or a container started after this is seen next time.
    const fileStamps: Record<string, string> = {};
    ids.forEach((id, i) => {
      fileStamps[id] = fileStamp(lists[i]!);
    });
    const cidStamps = await store.cidStamps(containersToStat(desired)).catch(() => ({}));
    const reused = reusableUnits({
      desired,
      listed,
      snapshot: previous,
      nowMono,
      bootId,
      loadStamp,
      backoff: d.backoff,
      fileStamps,
      cidStamps,
    });
    // The transient units the patterns matched are in `listed` by name.
    const toShow = [...new Set([...known, ...Object.keys(listed), ...extra])].filter((u) => !(u in reused)).sort();
    const fresh = toShow.length > 0 ? await d.systemctl.show(toShow) : {};
    units = { ...fresh };
    for (const [name, { seenMono: _s, files: _f, cid: _c, ...status }] of Object.entries(reused)) units[name] = status;
    const appOf: Record<string, string> = {};
    for (const app of desired.apps) for (const svc of app.rendered?.services ?? []) appOf[svc] = app.id;
    const at = { bootId: bootId!, loadStamp: loadStamp!, seenMono: nowMono };
    const next = nextSnapshot(previous, at, reused, fresh, { appOf, fileStamps, cidStamps });
    if (!sameSnapshot(previous, next)) await store.write(next).catch(() => undefined);
  }
  units ??= {
    ...(await (shown ?? d.systemctl.show(names))),
    ...(extra.size > 0 ? await d.systemctl.show([...extra].sort()) : {}),
  };
  const observed: Observed = { nowMs, nowMono, ...(bootId ? { bootId } : {}), files, units, backoff: d.backoff };
  if (d.reloads) observed.reloads = d.reloads;
  if (d.templateInputs && desired.apps.some((a) => a.rendered?.containers.some((c) => c.templates)))
    observed.templateInputs = await d.templateInputs();
  if (nodeList!.length > 0) observed.nodeFiles = nodeList!.map(observedFile);
  const probed = await helpers;
  if (probed) observed.networkHelpers = probed;
  // Rare: a unit of ours systemd does not know though its file is there. Quadlet tells a lost
  // reload (it generates the unit) from a rejected file (it does not).
  const unknown = Object.entries(files).flatMap(([id, list]) =>
    list
      .filter((f) => f.owned)
      .flatMap((f) => {
        const svc = serviceOfUnitFile(f.name);
        return svc && (units[svc]?.loadState ?? 'not-found') === 'not-found' ? [{ id, svc }] : [];
      }),
  );
  if (unknown.length > 0) {
    const generated = await d.quadlet.servicesOf([...new Set(unknown.map((u) => join(d.unitRoot, u.id)))]);
    if (generated) observed.generatedNow = Object.fromEntries(unknown.map((u) => [u.svc, generated.has(u.svc)]));
  }
  // Files about to be written are shown to the real generator first: a rendering it rejects
  // must not replace an app's last good units. Only then: a no-op pass never runs it.
  const toCheck = appsToCheck(desired, files);
  if (toCheck.length > 0) {
    const apps = new Map(
      toCheck.map((a) => [
        a.id,
        { files: a.rendered!.files, services: a.rendered!.services, context: checkContext(a, desired) },
      ]),
    );
    const rejected = await d.quadlet.rejections(apps);
    if (rejected && Object.keys(rejected).length > 0) observed.rejectedRenders = rejected;
  }
  // Running apps' images not in the store, among the containers whose unit files are about to
  // change: pulled first (plan-pulls.ts). A no-op pass asks Podman nothing.
  const toProbe = new Set<string>();
  for (const app of desired.apps.filter((a) => a.intent === 'running' && !adoptionInFlight(a))) {
    const pullable = pullableContainers(app);
    if (pullable.length === 0) continue;
    const changing = new Set(
      (unitFilePlan(app, files)?.changes ?? [])
        .filter((c) => c.action === 'create' || c.action === 'update')
        .map((c) => c.name),
    );
    for (const c of pullable)
      if (changing.has(c.file) || (c.buildService && changing.has(buildFileOf(c.buildService)))) toProbe.add(c.image!);
  }
  if (toProbe.size > 0) {
    const refs = [...toProbe].sort();
    const present = await Promise.all(refs.map((r) => d.podman.imageExists(r)));
    observed.missingImages = refs.filter((_, i) => !present[i]);
  }
  // A failed pull's reason, for the wait that reports it: the last line of its output.
  if (d.hookLogDir) {
    const failed = desired.apps.flatMap((a) =>
      pullableContainers(a)
        .map((c) => pullUnitOf(c.service))
        .filter((u) => units[u]?.activeState === 'failed')
        .map((u) => ({ app: a.id, unit: u })),
    );
    for (const f of failed) {
      const text = await readFile(join(d.hookLogDir, f.app, pullLogName(f.unit)), 'utf8').catch(() => '');
      const last = text
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean)
        .pop();
      if (!last) continue;
      observed.pullFailures = {
        ...observed.pullFailures,
        [f.unit]: last.length > 300 ? `${last.slice(0, 297)}...` : last,
      };
    }
  }
  // Containers about to start: the host ports they publish and the files they bind must be there.
  const toStart = desired.apps
    .filter((a) => a.intent === 'running')
    .flatMap((a) => a.rendered?.containers ?? [])
    .filter((c) => ['inactive', 'failed'].includes(units[c.service]?.activeState ?? ''));
  // A file bind's source is never created: a missing one holds its container (a no-op pass stats nothing).
  const bindFiles = [...new Set(toStart.flatMap((c) => [...c.bindFiles, ...(c.envFiles ?? [])]))].sort();
  if (bindFiles.length > 0) observed.missingFiles = await (d.missingFiles ?? missingFiles)(bindFiles);
  if (needsPodman(desired, units, files, { nowMs, nowMono })) {
    // Containers too: one left from an older run may be in the way of a start.
    [observed.secrets, observed.containers] = await Promise.all([d.podman.secrets(), d.podman.containers()]);
    // Which secrets hold rendered config files: those of an app gone or a template dropped go too.
    if (d.templateInputs && observed.templateInputs === undefined) observed.templateInputs = await d.templateInputs();
    if (desired.apps.some((a) => a.intent === 'absent')) {
      [observed.networks, observed.images] = await Promise.all([d.podman.networks(), d.podman.images()]);
      if (desired.apps.some((a) => a.intent === 'absent' && a.purge)) observed.volumes = await d.podman.volumes();
    }
    // The host ports of containers about to start: one still held would fail the start.
    const ports = toStart.flatMap((c) => c.hostPorts);
    if (ports.length > 0) observed.busyPorts = await d.busyPorts(ports);
  }
  return observed;
}

async function appDirs(root: string): Promise<string[]> {
  try {
    return (await readdir(root, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && isAppId(e.name))
      .map((e) => e.name);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
