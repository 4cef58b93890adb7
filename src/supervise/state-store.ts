import { isAppId } from '../names.js';
import { makeDir } from '../fs/make-dir.js';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { Adoption, BackoffEntry, DesiredApp, Intent, ReloadLog, Update } from './types.js';

/** The user's intent per installed app: with the manifests, the whole truth. */
export interface AppIntent {
  intent: Intent;
  purge?: boolean;
  installedAt: string;
  /** ms since the epoch: units started before it are restarted. */
  restartRequestedAt?: number;
  /** The manifest's version when it was installed (an update is a later one). */
  installedVersion?: string;
  /** The catalog its manifest was installed from (the node configuration's, or --apps / $ARCHY_QUADLET_APPS). */
  catalog?: string;
  /** Hooks that have run, by point: the key of the occasion each last ran for (see plan-hooks.ts). */
  hooksDone?: Record<string, string>;
  /** An adoption in progress or rolled back (see Adoption in types.ts). */
  adoption?: Adoption;
  /** Secrets imported by adopt: never generated anew. */
  importedSecrets?: string[];
  /** Volumes that existed before adoption, recorded as the app's (a purge removes them). */
  adoptedVolumes?: string[];
  /** An update in progress or rolled back (see Update in types.ts). */
  update?: Update;
  /** The unit files that last ran healthy: their hash (the set itself is in last-good/<app>.json). */
  lastGood?: {
    hash: string;
    recordedAt: string;
    version?: string;
    /** The images built for the app before this set (older builds, a rolled-back release) are gone (pruneBuilds). */
    buildsPruned?: boolean;
  };
}

export interface SupervisorState {
  version: 1;
  apps: Record<string, AppIntent>;
}

export class StateError extends Error {}

export const STATE_FILE = 'state.json';
const BACKOFF_FILE = 'backoff.json';
const RELOADS_FILE = 'reloads.json';
/** Enough to cover every reload between a file's write and a pass looking again. */
const RELOADS_KEPT = 16;
const INTENTS = new Set(['running', 'stopped', 'absent']);

/** Validates a parsed state document (pure). */
export function parseState(text: string, file: string): SupervisorState {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw corrupt(file, `not JSON (${(e as Error).message})`);
  }
  const d = doc as Partial<SupervisorState>;
  if (d === null || typeof d !== 'object' || Array.isArray(d)) throw corrupt(file, 'not an object');
  if (d.version !== 1)
    throw corrupt(file, `unknown version ${JSON.stringify(d.version)} (this archy-quadlet reads version 1)`);
  if (d.apps === null || typeof d.apps !== 'object' || Array.isArray(d.apps))
    throw corrupt(file, '"apps" is not an object');
  for (const [id, a] of Object.entries(d.apps)) {
    if (!isAppId(id)) throw corrupt(file, `"${id.slice(0, 60)}" is not an app id`);
    if (!a || typeof a !== 'object' || !INTENTS.has((a as AppIntent).intent))
      throw corrupt(file, `app "${id}" has no valid intent`);
  }
  return d as SupervisorState;
}

function corrupt(file: string, why: string): StateError {
  return new StateError(
    `the state file ${file} is unreadable: ${why}. ` +
      'Nothing was changed: archy-quadlet does not act on a state it cannot read. ' +
      `To recover, restore the copy of the state as last written (cp ${file}.bak ${file}), ` +
      'or inspect and repair the file by hand; ' +
      `volumes, secrets and unit files are untouched.`,
  );
}

export async function readState(stateDir: string): Promise<SupervisorState> {
  const file = join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, apps: {} };
    throw new StateError(`cannot read ${file}: ${(e as Error).message}`);
  }
  return parseState(text, file);
}

/**
 * Writes the state atomically (temp + fsync + rename), then the same into state.json.bak:
 * if state.json is ever damaged (by hand, by a disk), the copy is the state as last written,
 * not one change behind (which would forget the last app installed).
 */
export async function writeState(stateDir: string, state: SupervisorState): Promise<void> {
  await makeDir(stateDir, 0o700);
  const file = join(stateDir, STATE_FILE);
  const sorted: SupervisorState = {
    version: 1,
    apps: Object.fromEntries(Object.entries(state.apps).sort(([a], [b]) => (a < b ? -1 : 1))),
  };
  const text = `${JSON.stringify(sorted, null, 2)}\n`;
  await writeFileAtomic(file, text, 0o600);
  await writeFileAtomic(`${file}.bak`, text, 0o600);
}

/** Changes the state under the caller's lock: read, change, write. */
export async function updateState(stateDir: string, change: (s: SupervisorState) => void): Promise<SupervisorState> {
  const state = await readState(stateDir);
  change(state);
  await writeState(stateDir, state);
  return state;
}

/** Crash-loop backoff per unit: operational memory; a damaged file only means starting afresh. */
export async function readBackoff(stateDir: string): Promise<Record<string, BackoffEntry>> {
  try {
    const doc = JSON.parse(await readFile(join(stateDir, BACKOFF_FILE), 'utf8')) as {
      version?: number;
      units?: Record<string, BackoffEntry>;
    };
    return doc.version === 1 && doc.units && typeof doc.units === 'object' ? doc.units : {};
  } catch {
    return {};
  }
}

export async function writeBackoff(stateDir: string, units: Record<string, BackoffEntry>): Promise<void> {
  await makeDir(stateDir, 0o700);
  await writeFileAtomic(join(stateDir, BACKOFF_FILE), `${JSON.stringify({ version: 1, units }, null, 2)}\n`, 0o600);
}

/**
 * The daemon-reloads archy-quadlet asked for in this boot: when each completed (CLOCK_MONOTONIC
 * µs, oldest first), and from when that list is complete. A unit started after its file was
 * written but before the reload that loaded it runs the definition from before (see
 * runsOlderFile). The list of another boot is of no use: the monotonic clock restarted.
 */
export async function readReloadLog(stateDir: string, bootId: string | undefined): Promise<ReloadLog | undefined> {
  // Without a boot id a log of the last boot would pass for this one's: none is kept then.
  if (bootId === undefined) return undefined;
  try {
    const doc = JSON.parse(await readFile(join(stateDir, RELOADS_FILE), 'utf8')) as {
      version?: number;
      bootId?: string;
      completeFrom?: unknown;
      marks?: unknown;
      pendingFrom?: unknown;
    };
    if (doc.version !== 1 || doc.bootId !== bootId || typeof doc.completeFrom !== 'number') return undefined;
    if (!Array.isArray(doc.marks)) return undefined;
    return {
      completeFrom: doc.completeFrom,
      marks: doc.marks.filter((m): m is number => typeof m === 'number'),
      ...(typeof doc.pendingFrom === 'number' ? { pendingFrom: doc.pendingFrom } : {}),
    };
  } catch {
    return undefined;
  }
}

async function writeReloadLog(stateDir: string, bootId: string | undefined, log: ReloadLog): Promise<void> {
  if (bootId === undefined) return;
  await makeDir(stateDir, 0o700);
  const doc = { version: 1, ...(bootId ? { bootId } : {}), ...log };
  await writeFileAtomic(join(stateDir, RELOADS_FILE), `${JSON.stringify(doc)}\n`, 0o600);
}

/**
 * At the start of a pass: a list for this boot, complete from now, if there is none. Not
 * from the boot: an older archy-quadlet may have written and reloaded earlier in it, unrecorded.
 * A reload begun by a pass that died before it could mark it (kill -9) may have happened any
 * time since: it is marked now, the latest it can have been (a unit started meanwhile is
 * restarted once more at worst, never taken for running files it may not run).
 */
export async function beginReloadLog(stateDir: string, nowMono: number, bootId: string | undefined): Promise<void> {
  const log = await readReloadLog(stateDir, bootId);
  if (!log) await writeReloadLog(stateDir, bootId, { completeFrom: nowMono, marks: [] });
  else if (log.pendingFrom !== undefined) await recordReloadMark(stateDir, nowMono, bootId);
}

/** Before a daemon-reload: it is under way (see beginReloadLog). */
export async function markReloadPending(stateDir: string, mono: number, bootId: string | undefined): Promise<void> {
  const log = (await readReloadLog(stateDir, bootId)) ?? { completeFrom: mono, marks: [] };
  if (log.pendingFrom === undefined) await writeReloadLog(stateDir, bootId, { ...log, pendingFrom: mono });
}

/** After a daemon-reload returned: when it completed (and none is under way any more). */
export async function recordReloadMark(stateDir: string, mono: number, bootId: string | undefined): Promise<void> {
  const log = (await readReloadLog(stateDir, bootId)) ?? { completeFrom: mono, marks: [] };
  const marks = [...log.marks, mono];
  const dropped = marks.length > RELOADS_KEPT ? marks.splice(0, marks.length - RELOADS_KEPT) : [];
  await writeReloadLog(stateDir, bootId, { completeFrom: Math.max(log.completeFrom, ...dropped), marks });
}

/** What the state records of one app, as the supervisor's plain data (no manifest yet). */
export function intentOf(id: string, intent: AppIntent): DesiredApp {
  return {
    id,
    intent: intent.intent,
    purge: intent.purge === true,
    ...(intent.restartRequestedAt !== undefined ? { restartRequestedAt: intent.restartRequestedAt } : {}),
    ...(intent.installedAt ? { installedAt: intent.installedAt } : {}),
    ...(intent.installedVersion ? { installedVersion: intent.installedVersion } : {}),
    ...(intent.hooksDone ? { hooksDone: intent.hooksDone } : {}),
    ...(intent.adoption ? { adoption: intent.adoption } : {}),
    ...(intent.importedSecrets?.length ? { importedSecrets: intent.importedSecrets } : {}),
    ...(intent.adoptedVolumes?.length ? { adoptedVolumes: intent.adoptedVolumes } : {}),
    ...(intent.update ? { update: intent.update } : {}),
    ...(intent.lastGood ? { lastGoodHash: intent.lastGood.hash } : {}),
    ...(intent.lastGood?.version ? { lastGoodVersion: intent.lastGood.version } : {}),
    ...(intent.lastGood?.buildsPruned ? { lastGoodBuildsPruned: true } : {}),
  };
}
