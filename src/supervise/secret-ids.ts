import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import { makeDir } from '../fs/make-dir.js';

// The Podman ids of the secrets archy-quadlet created (name → id). Dependents render the
// ids of their providers' secrets, so a secret that is re-created (purged and installed
// again, deleted by hand and generated anew) restarts them: Podman copies a secret's value
// into a container only when the container is created, and a no-op pass asks Podman nothing.
// Ids only, never values. A lost file only means one extra restart of dependents.

const FILE = 'secret-ids.json';

export async function readSecretIds(stateDir: string): Promise<Record<string, string>> {
  try {
    const doc = JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as { version?: number; ids?: unknown };
    if (doc.version === 1 && doc.ids && typeof doc.ids === 'object') return doc.ids as Record<string, string>;
  } catch {
    // missing or damaged: no ids known
  }
  return {};
}

/** Records (id) or forgets (undefined) one secret's id: read, change, write. */
export async function recordSecretId(stateDir: string, name: string, id: string | undefined): Promise<void> {
  const ids = await readSecretIds(stateDir);
  if (ids[name] === id) return;
  if (id === undefined) delete ids[name];
  else ids[name] = id;
  await makeDir(stateDir, 0o700);
  const sorted = Object.fromEntries(Object.entries(ids).sort(([a], [b]) => (a < b ? -1 : 1)));
  await writeFileAtomic(join(stateDir, FILE), `${JSON.stringify({ version: 1, ids: sorted }, null, 2)}\n`, 0o600);
}
