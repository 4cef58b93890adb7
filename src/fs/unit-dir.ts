import type { Dirent } from 'node:fs';
import { readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parseOwnedHeader, type OwnedHeader } from '../render/unit-file.js';
import type { FileChange } from '../output/plan-unit-dir.js';
import { makeDir } from './make-dir.js';
import { fsyncDir, TMP_PREFIX, writeFileAtomic } from './write-file-atomic.js';

export interface ExistingFile {
  name: string;
  content: string;
  owned?: OwnedHeader;
  /** Modification time, ms since the epoch. */
  mtimeMs?: number;
}

/** Files in one directory, with our header parsed where there is one. Missing directory → []. */
export async function readUnitDir(dir: string): Promise<ExistingFile[]> {
  let entries: Dirent[];
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

/** Applies a plan: each write atomic (see writeFileAtomic), the directory fsynced once after. */
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
