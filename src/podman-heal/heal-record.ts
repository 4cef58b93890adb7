import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';

// The supervisor recovers Podman on its own at most once per boot: a recovery that did not
// hold would otherwise run on every pass. Kept in the state dir with the boot it ran in.

export interface HealRecord {
  bootId: string;
  atMs: number;
  breakage: string;
  done?: string[];
  error?: string;
}

const FILE = 'podman-heal.json';

export async function readHealRecord(stateDir: string): Promise<HealRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as HealRecord;
  } catch {
    return undefined;
  }
}

export async function writeHealRecord(stateDir: string, r: HealRecord): Promise<void> {
  await writeFileAtomic(join(stateDir, FILE), `${JSON.stringify(r, null, 2)}\n`);
}
