import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { Desired, UnitStatus } from './types.js';
import type { ListedUnit } from './systemctl.js';
import { adoptionInFlight } from './plan-adoption.js';

// `systemctl --user show` costs about 4 ms per unit whatever properties it is asked for
// (systemctl fetches them all, cgroup counters included, and filters them itself), so a
// pass over 200 apps spent 1.3 s of its 1.9 s there. `list-units` gives the state of every
// unit in one cheap call (18 ms for 200). A unit that is steadily as it was when last shown
// (same state, files and container unchanged since) reuses what that `show` said; only the
// others are shown. The snapshot is derived data in $XDG_RUNTIME_DIR (gone at boot): a
// missing or damaged one means every unit is shown, as before.

/**
 * A unit's `show`; when it was taken (CLOCK_MONOTONIC µs, before the call); and what its app's
 * files and its container's cid file were just before it (identities, not times: a step of
 * the wall clock must not make a newer file look older).
 */
export interface ShownUnit extends UnitStatus {
  seenMono: number;
  /** Its app's unit files then (see fileStamp). */
  files: string;
  /** Its container's cid file then (see cidStamp); absent: not a running container. */
  cid?: string;
}

/** What an entry's `ShownUnit` holds: a snapshot written by another version is not read. */
export const SNAPSHOT_FORMAT = 2;

export interface UnitSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  bootId: string;
  /**
   * Which load of the units it was taken in: systemd makes its generator directory anew at
   * every daemon-reload and every start of the manager (measured: a new inode each time), so
   * a reload by anyone, or a manager started again, is seen as a new stamp.
   */
  loadStamp: string;
  units: Record<string, ShownUnit>;
}

/**
 * Past this, a unit is shown again even if nothing says it changed: a bound on what no
 * signal here catches (a volume's or network's oneshot service restarted by hand, a drop-in
 * added by hand without a reload, a stopped app's unit started and stopped by hand).
 */
export const SNAPSHOT_MAX_AGE_SEC = 300;

/** An app's unit files as they are: names, sizes and mtimes (any write changes it). */
export function fileStamp(files: Array<{ name: string; mtimeMs?: number; content: string }>): string {
  return files
    .map((f) => `${f.name}:${f.content.length}:${f.mtimeMs ?? 0}`)
    .sort()
    .join('/');
}

/** The states a unit rests in while its app is neither changing nor failing, by intent. */
const RESTING: Record<string, Set<string>> = {
  running: new Set(['active/running', 'active/exited']),
  stopped: new Set(['inactive/dead']),
};

export interface ReuseInput {
  desired: Desired;
  listed: Record<string, ListedUnit>;
  snapshot: UnitSnapshot | undefined;
  nowMono: number;
  bootId: string | undefined;
  loadStamp: string | undefined;
  backoff: Record<string, unknown>;
  /** Each app's unit files now (fileStamp). */
  fileStamps: Record<string, string>;
  /** Each running container's cid file now (`%t/%N.cid`, written anew by every start); absent: none. */
  cidStamps: Record<string, string>;
}

/**
 * The units whose last `show` still holds. Pure. A unit qualifies only while its app is at
 * rest: running or stopped, not in backoff, update, adoption or restart; the unit listed in
 * the state it was shown in, a resting one (active for a running app, inactive for a stopped
 * one, whose unit systemd may have unloaded), with no job and not needing a reload; its
 * app's files as they were; a running container's cid file the same one (a restart by
 * systemd between two passes writes a new one); systemd not reloaded or started again since;
 * and shown less than SNAPSHOT_MAX_AGE_SEC ago.
 */
export function reusableUnits(r: ReuseInput): Record<string, ShownUnit> {
  const out: Record<string, ShownUnit> = {};
  const snap = r.snapshot;
  if (!snap || !r.bootId || snap.bootId !== r.bootId) return out;
  if (!r.loadStamp || snap.loadStamp !== r.loadStamp) return out;
  for (const app of r.desired.apps) {
    const resting = RESTING[app.intent];
    if (!app.rendered || !resting) continue;
    if (app.restartRequestedAt !== undefined || adoptionInFlight(app)) continue;
    if (app.update && app.update.phase !== 'rolledBack') continue;
    // Init containers (oneshot) are not restarted by systemd, and Podman removes an exited
    // --rm container's cid file: they rest in active/exited with none, on the age bound alone.
    const containers = new Set(app.rendered.containers.filter((c) => !c.oneshot).map((c) => c.service));
    for (const svc of app.rendered.services) {
      const was = snap.units[svc];
      if (!was || r.backoff[svc] !== undefined) continue;
      // Not listed: not loaded, which systemd does only to an inactive unit (not a failed one).
      const now = r.listed[svc] ?? (app.intent === 'stopped' ? UNLOADED : undefined);
      if (!now || now.jobQueued || !resting.has(`${now.activeState}/${now.subState}`)) continue;
      if (now.loadState !== 'loaded' || was.loadState !== 'loaded') continue;
      if (was.activeState !== now.activeState || was.subState !== now.subState) continue;
      if (was.needDaemonReload || was.jobQueued || was.hookKey !== undefined) continue;
      if (!(r.nowMono - was.seenMono <= SNAPSHOT_MAX_AGE_SEC * 1_000_000 && was.seenMono <= r.nowMono)) continue;
      if (was.files !== r.fileStamps[app.id]) continue;
      if (containers.has(svc) && now.activeState === 'active') {
        const cid = r.cidStamps[svc];
        if (cid === undefined || was.cid !== cid) continue;
      }
      out[svc] = was;
    }
  }
  return out;
}

const UNLOADED: ListedUnit = { loadState: 'loaded', activeState: 'inactive', subState: 'dead', jobQueued: false };

/** The container services whose cid files a pass reads: every running app's. */
export function containersToStat(desired: Desired): string[] {
  return desired.apps
    .filter((a) => a.intent === 'running')
    .flatMap((a) => a.rendered?.containers.map((c) => c.service) ?? []);
}

/**
 * The snapshot after this observation: the units reused, and those shown now with the stamps
 * read before the show. A unit shown as it was, with the same stamps, and not long ago, keeps
 * its entry: a converged node whose stopped apps are shown every pass does not rewrite the
 * snapshot every pass. Pure.
 */
export function nextSnapshot(
  previous: UnitSnapshot | undefined,
  at: { bootId: string; loadStamp: string; seenMono: number },
  reused: Record<string, ShownUnit>,
  shown: Record<string, UnitStatus>,
  stamps: { appOf: Record<string, string>; fileStamps: Record<string, string>; cidStamps: Record<string, string> },
): UnitSnapshot {
  const units: Record<string, ShownUnit> = { ...reused };
  const before = previous?.bootId === at.bootId && previous.loadStamp === at.loadStamp ? previous.units : {};
  for (const [name, u] of Object.entries(shown)) {
    if (u.loadState === 'not-found') continue;
    const app = stamps.appOf[name];
    const cid = stamps.cidStamps[name];
    const entry: ShownUnit = {
      ...u,
      seenMono: at.seenMono,
      files: app === undefined ? '' : (stamps.fileStamps[app] ?? ''),
      ...(cid !== undefined ? { cid } : {}),
    };
    const was = before[name];
    const recent =
      was !== undefined &&
      at.seenMono - was.seenMono < (SNAPSHOT_MAX_AGE_SEC / 2) * 1_000_000 &&
      was.seenMono <= at.seenMono;
    units[name] = recent && sameEntry(was, entry) ? was : entry;
  }
  return { format: SNAPSHOT_FORMAT, bootId: at.bootId, loadStamp: at.loadStamp, units };
}

function sameEntry(a: ShownUnit, b: ShownUnit): boolean {
  const { seenMono: _a, ...x } = a;
  const { seenMono: _b, ...y } = b;
  return JSON.stringify(x) === JSON.stringify(y);
}

/** Whether two snapshots say the same (then the file is not written again). Pure. */
export function sameSnapshot(a: UnitSnapshot | undefined, b: UnitSnapshot): boolean {
  if (!a || a.format !== b.format || a.bootId !== b.bootId || a.loadStamp !== b.loadStamp) return false;
  const keys = Object.keys(b.units);
  if (keys.length !== Object.keys(a.units).length) return false;
  return keys.every((k) => a.units[k] !== undefined && JSON.stringify(a.units[k]) === JSON.stringify(b.units[k]));
}

const ENTRY_STRINGS = ['loadState', 'activeState', 'subState', 'result'] as const;
const ENTRY_NUMBERS = [
  'seenMono',
  'nRestarts',
  'execMainStatus',
  'execMainStartMono',
  'activeEnterMono',
  'inactiveEnterMono',
] as const;

/** A snapshot read from its file, if it is one of this format: else none (every unit shown). Pure. */
export function snapshotOf(doc: unknown): UnitSnapshot | undefined {
  const d = doc as Partial<UnitSnapshot> | null;
  if (!d || d.format !== SNAPSHOT_FORMAT || typeof d.bootId !== 'string' || typeof d.loadStamp !== 'string')
    return undefined;
  if (!d.units || typeof d.units !== 'object') return undefined;
  const units: Record<string, ShownUnit> = {};
  for (const [name, u] of Object.entries(d.units))
    if (u && typeof u.files === 'string' && ENTRY_STRINGS.every((k) => typeof u[k] === 'string'))
      if (ENTRY_NUMBERS.every((k) => typeof u[k] === 'number' && Number.isFinite(u[k]))) units[name] = u;
  return { format: SNAPSHOT_FORMAT, bootId: d.bootId, loadStamp: d.loadStamp, units };
}

/** Where the snapshot is kept, and the cid files of containers are (both $XDG_RUNTIME_DIR). */
export interface UnitSnapshotStore {
  read(): Promise<UnitSnapshot | undefined>;
  /** The identity of systemd's current load of the units (see UnitSnapshot); undefined: none to tell. */
  loadStamp(): Promise<string | undefined>;
  write(s: UnitSnapshot): Promise<void>;
  /** Each container service's cid file's identity (inode, size, mtime); absent: no such file. */
  cidStamps(services: string[]): Promise<Record<string, string>>;
}

export function runtimeSnapshotStore(runtimeDir: string): UnitSnapshotStore {
  const path = join(runtimeDir, 'archy-quadlet.units.json');
  return {
    async read() {
      try {
        return snapshotOf(JSON.parse(await readFile(path, 'utf8')));
      } catch {
        return undefined; // missing or damaged: every unit is shown, and the snapshot written anew
      }
    },
    async loadStamp() {
      const s = await stat(join(runtimeDir, 'systemd', 'generator')).catch(() => undefined);
      return s?.isDirectory() ? `${s.ino}:${s.ctimeMs}` : undefined;
    },
    async write(s) {
      await writeFileAtomic(path, JSON.stringify(s), 0o600);
    },
    async cidStamps(services) {
      const out: Record<string, string> = {};
      await Promise.all(
        services.map(async (svc) => {
          // Quadlet's ExecStart: podman run --cidfile=%t/%N.cid (removed again by ExecStopPost).
          const s = await stat(join(runtimeDir, `${svc.replace(/\.service$/, '')}.cid`)).catch(() => undefined);
          if (s) out[svc] = `${s.ino}:${s.size}:${s.mtimeMs}`;
        }),
      );
      return out;
    },
  };
}
