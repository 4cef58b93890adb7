import { it } from 'vitest';
import { recordResult } from '../lifecycle/results.js';

// A chaos scenario: it states its steady state, breaks something (calling `broke()` at the
// moment it does), and asserts the node is back in that state, with nothing lost, within
// `boundMs` of the break. Recorded for the gate's report.

export interface ChaosRun {
  /** Marks the moment of the break: recovery time is measured from here. */
  broke(): void;
  /** Asserts the node is back within the bound since the last break; returns the recovery time (ms). */
  recovered(): number;
}

export function chaosIt(
  scenario: number,
  title: string,
  boundMs: number,
  fn: (run: ChaosRun) => Promise<void>,
  timeoutMs = 300_000,
): void {
  it(
    `${scenario}. ${title} (back within ${boundMs / 1000} s)`,
    async () => {
      const startedAt = Date.now();
      let brokeAt: number | undefined;
      let recoveredMs: number | undefined;
      const run: ChaosRun = {
        broke: () => void (brokeAt = Date.now()),
        recovered() {
          if (brokeAt === undefined) throw new Error('recovered() before broke()');
          const ms = Date.now() - brokeAt;
          brokeAt = undefined;
          recoveredMs = Math.max(recoveredMs ?? 0, ms); // a scenario may break things several times: the slowest counts
          if (ms > boundMs) throw new Error(`back after ${ms} ms, over the bound of ${boundMs} ms`);
          return ms;
        },
      };
      try {
        await fn(run);
        if (recoveredMs === undefined) throw new Error('the scenario never checked its recovery');
        recordResult({
          kind: 'chaos',
          scenario,
          title,
          boundMs,
          ok: true,
          ms: recoveredMs,
          startedAt,
          endedAt: Date.now(),
        });
      } catch (e) {
        recordResult({
          kind: 'chaos',
          scenario,
          title,
          boundMs,
          ok: false,
          ms: recoveredMs ?? Date.now() - (brokeAt ?? startedAt),
          startedAt,
          endedAt: Date.now(),
          error: (e as Error).message,
        });
        throw e;
      }
    },
    timeoutMs,
  );
}
