import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDir } from '../fs/make-dir.js';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { RenderedApp } from './types.js';

// The last good set of each app (see plan-update.ts): the rendering whose units last ran
// healthy, with the image ids its containers ran, in `<stateDir>/last-good/<app>.json`
// (0600: its units name the app's secrets). A rollback writes these files back.

export interface LastGoodSet {
  version: 1;
  /** filesHash of rendered.files. */
  hash: string;
  rendered: RenderedApp;
  /** Per container service: the image reference its unit names and the id it ran, pinned when an update began. */
  images?: Record<string, { ref: string; id: string }>;
  recordedAt: string;
}

const dirOf = (stateDir: string) => join(stateDir, 'last-good');

export async function readLastGood(stateDir: string, app: string): Promise<LastGoodSet | undefined> {
  try {
    const doc = JSON.parse(await readFile(join(dirOf(stateDir), `${app}.json`), 'utf8')) as LastGoodSet;
    return doc.version === 1 && typeof doc.hash === 'string' && doc.rendered ? doc : undefined;
  } catch {
    return undefined; // missing or damaged: no rollback target (the update goes on ungated)
  }
}

export async function writeLastGood(stateDir: string, app: string, set: LastGoodSet): Promise<void> {
  await makeDir(dirOf(stateDir), 0o700);
  await writeFileAtomic(join(dirOf(stateDir), `${app}.json`), `${JSON.stringify(set)}\n`, 0o600);
}

export async function removeLastGood(stateDir: string, app: string): Promise<void> {
  await rm(join(dirOf(stateDir), `${app}.json`), { force: true });
}
