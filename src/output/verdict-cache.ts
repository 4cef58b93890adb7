import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { AppUnits } from './check-units.js';

/**
 * The generator's verdict on an exact set of files, remembered while that set is asked about:
 * an app whose new units wait (held, or not yet written) is checked once, not by every
 * `status`, pass and `--wait` poll. Keyed by the files and by the generator binary (a Podman
 * upgrade may judge differently). Derived data: a missing or damaged cache is rebuilt.
 */
export type Verdicts = Record<string, string | null>;

export async function generatorStamp(bin: string): Promise<string> {
  const s = await stat(bin).catch(() => undefined);
  return s ? `${bin}:${s.size}:${s.mtimeMs}` : bin;
}

export function verdictKey(stamp: string, units: AppUnits): string {
  return createHash('sha256')
    .update(JSON.stringify([stamp, units.services, units.files, units.context ?? []]))
    .digest('hex');
}

export async function readVerdicts(path: string): Promise<Verdicts> {
  try {
    const doc = JSON.parse(await readFile(path, 'utf8')) as unknown;
    if (doc && typeof doc === 'object' && !Array.isArray(doc)) return doc as Verdicts;
  } catch {
    // missing or damaged: rebuilt
  }
  return {};
}

export async function writeVerdicts(path: string, verdicts: Verdicts): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(verdicts), 0o600);
}
