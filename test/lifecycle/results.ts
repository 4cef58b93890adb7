import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

// Results of the gate and the chaos scenarios, one JSON object per line, for
// scripts/gate-report.mjs. Appended (each test file runs in its own worker).

export const RESULTS_FILE = resolve(process.env.ARCHY_GATE_RESULTS ?? 'out/gate/results.jsonl');

export type GateResult =
  | {
      kind: 'event';
      iteration: number;
      app: string;
      event: string;
      ok: boolean;
      ms: number;
      startedAt: number;
      endedAt: number;
      error?: string;
    }
  | {
      kind: 'chaos';
      scenario: number;
      title: string;
      boundMs: number;
      ok: boolean;
      ms: number;
      startedAt: number;
      endedAt: number;
      error?: string;
    };

export function recordResult(r: GateResult): void {
  mkdirSync(dirname(RESULTS_FILE), { recursive: true });
  appendFileSync(RESULTS_FILE, `${JSON.stringify(r)}\n`);
}

/** How many times the lifecycle gate goes round: ARCHY_ITERATIONS (CI sets a small count). */
export function gateIterations(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new Error(`ARCHY_ITERATIONS must be a whole number from 1 to 1000, not "${value}"`);
  return n;
}
