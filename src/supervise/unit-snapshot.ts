import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { Desired, ObservedFile, UnitStatus } from './types.js';
import type { ListedUnit } from './systemctl.js';
import { adoptionInFlight } from './plan-adoption.js';

// `systemctl --user show` costs about 4 ms per unit whatever properties it is asked for
// (systemctl fetches them all, cgroup counters included, and filters them itself), so a
// pass over 200 apps spent 1.3 s of its 1.9 s there. `list-units` gives the state of every
// unit in one cheap call (18 ms for 200). A unit that is steadily as it was when last shown
// (same state, files and container unchanged since) reuses what that `show` said; only the
// others are shown. The snapshot is derived data in $XDG_RUNTIME_DIR (gone at boot): a
// missing or damaged one means every unit is shown, as before.

/** A unit's `show`, and when it was taken (CLOCK_MONOTONIC µs, taken before the call). */
export interface ShownUnit extends UnitStatus {
  seenMono: number;
}

export interface UnitSnapshot {
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
 * signal here catches (say, a volume's oneshot service restarted by hand, its `NRestarts`).
 */
export const SNAPSHOT_MAX_AGE_SEC = 300;

/** The states a unit rests in while its app is neither changing nor failing, by intent. */
const RESTING: Record<string, Set<string>> = {
  running: new Set(['active/running', 'active/exited']),
  stopped: new Set(['inactive/dead']),
};

export interface ReuseInput {
  desired: Desired;
  files: Record<string, ObservedFile[]>;
  listed: Record<string, ListedUnit>;
  snapshot: UnitSnapshot | undefined;
  nowMono: number;
  bootId: string | undefined;
  loadStamp: string | undefined;
  backoff: Record<string, unknown>;
  /** When each container's cid file (`%t/%N.cid`, rewritten by every start) was last written, monotonic µs. */
  containerStarts: Record<string, number | undefined>;
}

/**
 * The units whose last `show` still holds. Pure. A unit qualifies only while its app is at
 * rest: running or stopped, not in backoff, update, adoption or restart; the unit listed in
 * the state it was shown in, a resting one (active for a running app, inactive for a stopped
 * one, whose unit systemd may have unloaded), with no job and not needing a reload; no file
 * of its app written since; a running container not started again since (a new cid file);
 * systemd not reloaded or started again since; and shown less than SNAPSHOT_MAX_AGE_SEC ago.
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
    const newestFile = Math.max(0, ...(r.files[app.id] ?? []).map((f) => f.mtimeMono));
    const containers = new Set(app.rendered.containers.map((c) => c.service));
    for (const svc of app.rendered.services) {
      const was = snap.units[svc];
      if (!was || r.backoff[svc] !== undefined) continue;
      // Not listed: not loaded, which systemd does only to an inactive unit (not a failed one).
      const now = r.listed[svc] ?? (app.intent === 'stopped' ? UNLOADED : undefined);
      if (!now || now.jobQueued || !resting.has(`${now.activeState}/${now.subState}`)) continue;
      if (now.loadState !== 'loaded' || was.loadState !== 'loaded') continue;
      if (was.activeState !== now.activeState || was.subState !== now.subState) continue;
      if (was.needDaemonReload || was.jobQueued || was.hookKey !== undefined) continue;
      if (r.nowMono - was.seenMono > SNAPSHOT_MAX_AGE_SEC * 1_000_000 || was.seenMono > r.nowMono) continue;
      if (newestFile >= was.seenMono) continue;
      if (containers.has(svc) && now.activeState === 'active') {
        const started = r.containerStarts[svc];
        if (started === undefined || started >= was.seenMono) continue;
      }
      out[svc] = was;
    }
  }
  return out;
}

const UNLOADED: ListedUnit = { loadState: 'loaded', activeState: 'inactive', subState: 'dead', jobQueued: false };

/** The container services whose cid files `reusableUnits` needs: those it may reuse. */
export function containersToStat(desired: Desired, snapshot: UnitSnapshot | undefined): string[] {
  if (!snapshot) return [];
  return desired.apps
    .filter((a) => a.intent === 'running')
    .flatMap((a) => a.rendered?.containers.map((c) => c.service) ?? [])
    .filter((s) => snapshot.units[s] !== undefined);
}

/**
 * The snapshot after this observation: the units reused, and those shown now. A unit shown
 * as it was, and not long ago, keeps its entry: a converged node whose stopped apps are shown
 * every pass does not rewrite the snapshot every pass. Pure.
 */
export function nextSnapshot(
  previous: UnitSnapshot | undefined,
  bootId: string,
  loadStamp: string,
  reused: Record<string, ShownUnit>,
  shown: Record<string, UnitStatus>,
  seenMono: number,
): UnitSnapshot {
  const units: Record<string, ShownUnit> = { ...reused };
  const before = previous?.bootId === bootId && previous.loadStamp === loadStamp ? previous.units : {};
  for (const [name, u] of Object.entries(shown)) {
    if (u.loadState === 'not-found') continue;
    const was = before[name];
    const { seenMono: wasSeen = 0, ...wasStatus } = was ?? {};
    const recent = was && seenMono - wasSeen < (SNAPSHOT_MAX_AGE_SEC / 2) * 1_000_000 && wasSeen <= seenMono;
    units[name] = recent && JSON.stringify(wasStatus) === JSON.stringify(u) ? was : { ...u, seenMono };
  }
  return { bootId, loadStamp, units };
}

/** Whether two snapshots say the same (then the file is not written again). Pure. */
export function sameSnapshot(a: UnitSnapshot | undefined, b: UnitSnapshot): boolean {
  if (!a || a.bootId !== b.bootId || a.loadStamp !== b.loadStamp) return false;
  const keys = Object.keys(b.units);
  if (keys.length !== Object.keys(a.units).length) return false;
  return keys.every((k) => a.units[k] !== undefined && JSON.stringify(a.units[k]) === JSON.stringify(b.units[k]));
}

/** Where the snapshot is kept, and the cid files of containers are (both $XDG_RUNTIME_DIR). */
export interface UnitSnapshotStore {
  read(): Promise<UnitSnapshot | undefined>;
  /** The identity of systemd's current load of the units (see UnitSnapshot); undefined: none to tell. */
  loadStamp(): Promise<string | undefined>;
  write(s: UnitSnapshot): Promise<void>;
  /** Each container service's cid file's mtime (ms since the epoch); absent: no such file. */
  containerStarts(services: string[]): Promise<Record<string, number>>;
}

export function runtimeSnapshotStore(runtimeDir: string): UnitSnapshotStore {
  const path = join(runtimeDir, 'archy-quadlet.units.json');
  return {
    async read() {
      try {
        const doc = JSON.parse(await readFile(path, 'utf8')) as Partial<UnitSnapshot>;
        if (
          typeof doc?.bootId === 'string' &&
          typeof doc.loadStamp === 'string' &&
          doc.units &&
          typeof doc.units === 'object'
        )
          return doc as UnitSnapshot;
      } catch {
        // missing or damaged: every unit is shown, and the snapshot written anew
      }
      return undefined;
    },
    async loadStamp() {
      const s = await stat(join(runtimeDir, 'systemd', 'generator')).catch(() => undefined);
      return s?.isDirectory() ? `${s.ino}:${s.ctimeMs}` : undefined;
    },
    async write(s) {
      await writeFileAtomic(path, JSON.stringify(s), 0o600);
    },
    async containerStarts(services) {
      const out: Record<string, number> = {};
      await Promise.all(
        services.map(async (svc) => {
          // Quadlet's ExecStart: podman run --cidfile=%t/%N.cid (removed again by ExecStopPost).
          const s = await stat(join(runtimeDir, `${svc.replace(/\.service$/, '')}.cid`)).catch(() => undefined);
          if (s) out[svc] = s.mtimeMs;
        }),
      );
      return out;
    },
  };
}
