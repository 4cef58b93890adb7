import { readFile, rm } from 'node:fs/promises';
import { makeDir } from '../fs/make-dir.js';
import { join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import { computeStatus } from '../supervise/status.js';
import type { Desired, Observed } from '../supervise/types.js';
import type { PassLedger, PassRecord } from '../supervise/pass-ledger.js';
import { renderMetrics } from './prometheus-text.js';

// The edges of the node's metrics: where `setup --metrics DIR` asked them to go (kept in the
// state directory, so every pass of every entry point finds it), and the file in that
// directory the node exporter's textfile collector reads.

/** The file in the textfile collector's directory: the collector reads every `*.prom` there. */
export const METRICS_FILE = 'archy_quadlet.prom';
const TARGET_FILE = 'metrics-target.json';

/** The text for a view of the node and the pass ledger as it stands. */
export function nodeMetricsText(view: { desired: Desired; observed: Observed }, ledger: PassLedger): string {
  const last: PassRecord | undefined = ledger.recent[ledger.recent.length - 1];
  return renderMetrics({
    views: computeStatus(view.desired, view.observed),
    desired: view.desired,
    observed: view.observed,
    passesCompleted: ledger.completed,
    ...(last
      ? {
          lastPass: {
            ms: last.ms,
            ...(last.endedAtMs ? { endedAtMs: last.endedAtMs } : {}),
            applied: last.applied,
            pendingCount: last.pending.length,
          },
        }
      : {}),
  });
}

/** The textfile collector directory `setup --metrics` recorded, if any. */
export async function readMetricsDir(stateDir: string): Promise<string | undefined> {
  try {
    const doc = JSON.parse(await readFile(join(stateDir, TARGET_FILE), 'utf8')) as { textfileDir?: unknown };
    return typeof doc.textfileDir === 'string' && doc.textfileDir.startsWith('/') ? doc.textfileDir : undefined;
  } catch {
    return undefined;
  }
}

/** Records the directory (or, with none, forgets it and removes the file written there). */
export async function setMetricsDir(stateDir: string, dir: string | undefined): Promise<void> {
  if (dir) {
    await makeDir(stateDir);
    await writeFileAtomic(join(stateDir, TARGET_FILE), `${JSON.stringify({ textfileDir: dir })}\n`, 0o600);
    return;
  }
  const old = await readMetricsDir(stateDir);
  if (old) await rm(join(old, METRICS_FILE), { force: true });
  await rm(join(stateDir, TARGET_FILE), { force: true });
}

/** Writes the metrics file atomically (the collector never reads half of it). */
export async function writeMetricsFile(dir: string, text: string): Promise<void> {
  await writeFileAtomic(join(dir, METRICS_FILE), text, 0o644);
}
