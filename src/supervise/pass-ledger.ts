import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { Step } from './types.js';

/**
 * The numbered passes of a node, in $XDG_RUNTIME_DIR beside the pass lock: how many passes
 * started and completed, and what the last few did. Only the lock holder writes it; anyone
 * reads it. It is what lets one pass serve every caller whose intent was recorded before it
 * started (see requestPass): a caller that finds a pass running waits for the next one to
 * complete instead of queueing for the lock.
 */
export interface PassRecord {
  seq: number;
  pid: number;
  ms: number;
  /** Steps applied, without file contents. */
  applied: Array<{ step: Step; ok: boolean; error?: string; ms: number; pass?: number }>;
  /** What the planner said at the end (waits while things are in flight), without file contents. */
  pending: Step[];
  errors: Array<{ app: string; message: string }>;
}

export interface PassLedger {
  version: 1;
  started: number;
  completed: number;
  recent: PassRecord[];
}

/** Records kept: enough for every waiter of a busy node to find the passes that served it. */
export const RECENT_PASSES = 32;

const EMPTY: PassLedger = { version: 1, started: 0, completed: 0, recent: [] };

/** The ledger; a missing or damaged one reads as empty (a waiter then takes the lock itself). */
export async function readLedger(path: string): Promise<PassLedger> {
  try {
    const doc = JSON.parse(await readFile(path, 'utf8')) as PassLedger;
    if (
      doc.version === 1 &&
      Number.isInteger(doc.started) &&
      Number.isInteger(doc.completed) &&
      Array.isArray(doc.recent)
    )
      return doc;
  } catch {
    // missing or damaged
  }
  return { ...EMPTY, recent: [] };
}

export async function writeLedger(path: string, ledger: PassLedger): Promise<void> {
  await writeFileAtomic(path, JSON.stringify({ ...ledger, recent: ledger.recent.slice(-RECENT_PASSES) }), 0o600);
}

/** A step as it is recorded and printed: a unit file's content becomes its size. */
export function withoutContent(step: Step): Step {
  return step.kind === 'writeUnit' ? { ...step, content: `(${step.content.length} bytes)` } : step;
}
