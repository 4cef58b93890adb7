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
  /** When it ended, ms since the epoch (for the node's metrics; absent in older ledgers). */
  endedAtMs?: number;
  /** Steps applied, without file contents. */
  applied: Array<{ step: Step; ok: boolean; error?: string; ms: number; pass?: number }>;
  /** What the planner said at the end (waits while things are in flight), without file contents. */
  pending: Step[];
  errors: Array<{ app: string; message: string }>;
}

export interface PassLedger {
  version: 1;
  /**
   * Names this numbering: a new one whenever the ledger had to be made afresh (missing or
   * damaged). A caller trusts the numbers only within the epoch it first read.
   */
  epoch: string;
  started: number;
  completed: number;
  recent: PassRecord[];
}

/** Records kept: enough for every waiter of a busy node to find the passes that served it. */
export const RECENT_PASSES = 32;

/**
 * The ledger; a missing or damaged one reads as empty with no epoch (a caller that read it
 * so is then served only by a pass of its own).
 */
export async function readLedger(path: string): Promise<PassLedger> {
  try {
    const doc = JSON.parse(await readFile(path, 'utf8')) as PassLedger;
    const valid =
      doc.version === 1 &&
      typeof doc.epoch === 'string' &&
      Number.isInteger(doc.started) &&
      Number.isInteger(doc.completed) &&
      Array.isArray(doc.recent);
    if (valid) return { ...doc, recent: doc.recent.filter(isRecord) };
  } catch {
    // missing or damaged
  }
  return { version: 1, epoch: '', started: 0, completed: 0, recent: [] };
}

function isRecord(r: unknown): r is PassRecord {
  const x = r as PassRecord | null;
  return (
    !!x && Number.isInteger(x.seq) && Array.isArray(x.applied) && Array.isArray(x.pending) && Array.isArray(x.errors)
  );
}

export async function writeLedger(path: string, ledger: PassLedger): Promise<void> {
  await writeFileAtomic(path, JSON.stringify({ ...ledger, recent: ledger.recent.slice(-RECENT_PASSES) }), 0o600);
}

/** A step as it is recorded and printed: a unit file's content becomes its size. */
export function withoutContent(step: Step): Step {
  return step.kind === 'writeUnit' ? { ...step, content: `(${step.content.length} bytes)` } : step;
}
