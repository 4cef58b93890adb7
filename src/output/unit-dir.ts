import { makeDir } from '../fs/make-dir.js';
import { open, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseOwnedHeader, type OwnedHeader } from '../render/unit-file.js';

export interface UnitFile {
  name: string;
  content: string;
}

export type FileAction = 'create' | 'update' | 'unchanged' | 'remove';
export interface FileChange {
  name: string;
  action: FileAction;
  /** Content before the change (update, remove), for diffs. */
  before?: string;
  after?: string;
}

export interface ExistingFile {
  name: string;
  content: string;
  owned?: OwnedHeader;
  /** Modification time, ms since the epoch. */
  mtimeMs?: number;
}

const TMP_PREFIX = '.archy-quadlet-tmp-';

/** Files in one directory, with our header parsed where there is one. Missing directory → []. */
export async function readUnitDir(dir: string): Promise<ExistingFile[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out = await Promise.all(
    entries
      .filter((e) => e.isFile() && !e.name.startsWith(TMP_PREFIX))
      .map(async (e): Promise<ExistingFile | undefined> => {
        const path = join(dir, e.name);
        let content: string, mtimeMs: number;
        try {
          [content, { mtimeMs }] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
        } catch (err) {
          // Another process (a pass, an uninstall) removed it after readdir: it is not there.
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw err;
        }
        const owned = parseOwnedHeader(content);
        return { name: e.name, content, mtimeMs, ...(owned ? { owned } : {}) };
      }),
  );
  return out.filter((f): f is ExistingFile => f !== undefined).sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * What it takes to make `dir` hold exactly `files` among the files we own (pure). A file of
 * the same name that we did not write is a conflict: it is never overwritten.
 */
export function planUnitDir(existing: ExistingFile[], files: UnitFile[]): { changes: FileChange[]; conflicts: string[] } {
  const byName = new Map(existing.map((f) => [f.name, f]));
  const wanted = new Set(files.map((f) => f.name));
  const changes: FileChange[] = [];
  const conflicts: string[] = [];
  for (const f of files) {
    const old = byName.get(f.name);
    if (!old) changes.push({ name: f.name, action: 'create', after: f.content });
    else if (!old.owned) conflicts.push(f.name);
    else if (old.content === f.content) changes.push({ name: f.name, action: 'unchanged' });
    else changes.push({ name: f.name, action: 'update', before: old.content, after: f.content });
  }
  for (const old of existing) {
    if (old.owned && !wanted.has(old.name)) changes.push({ name: old.name, action: 'remove', before: old.content });
  }
  return { changes, conflicts };
}

/** Applies a plan: each write is temp file + fsync + rename, so a file is either old or new, never half. */
export async function applyUnitDir(dir: string, changes: FileChange[]): Promise<void> {
  if (changes.some((c) => c.action === 'create' || c.action === 'update')) await makeDir(dir);
  for (const c of changes) {
    if (c.action === 'create' || c.action === 'update') await writeFileAtomic(join(dir, c.name), c.after!);
    else if (c.action === 'remove') await rm(join(dir, c.name), { force: true });
  }
  if (changes.some((c) => c.action !== 'unchanged')) await fsyncDir(dir);
}

/** Removes a directory only if nothing is left in it (someone else's file keeps it). */
export async function removeDirIfEmpty(dir: string): Promise<void> {
  await rmdir(dir).catch(() => undefined);
}

export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const slash = path.lastIndexOf('/');
  const tmp = `${path.slice(0, slash + 1)}${TMP_PREFIX}${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(content, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
