import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import { makeDir } from '../fs/make-dir.js';

// A small name → value map the supervisor keeps in its state directory (Podman ids of the
// secrets it created, the input keys of the templates it rendered): derived data, so a lost
// or damaged file only costs some work done again. Never values of secrets.

export async function readRecordedMap(stateDir: string, file: string): Promise<Record<string, string>> {
  try {
    const doc = JSON.parse(await readFile(join(stateDir, file), 'utf8')) as { version?: number; ids?: unknown };
    if (doc.version === 1 && doc.ids && typeof doc.ids === 'object') return doc.ids as Record<string, string>;
  } catch {
    // missing or damaged: nothing known
  }
  return {};
}

/** Records (value) or forgets (undefined) one entry: read, change, write. */
export async function recordInMap(stateDir: string, file: string, name: string, value: string | undefined) {
  const ids = await readRecordedMap(stateDir, file);
  if (ids[name] === value) return;
  if (value === undefined) delete ids[name];
  else ids[name] = value;
  await makeDir(stateDir, 0o700);
  const sorted = Object.fromEntries(Object.entries(ids).sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFileAtomic(join(stateDir, file), `${JSON.stringify({ version: 1, ids: sorted }, null, 2)}\n`, 0o600);
}
