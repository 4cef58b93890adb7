import type { Duration } from './types.js';

const DURATION_PART = /([0-9]+)(ms|s|m|h)/g;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** 30 → 30000, '1m30s' → 90000. The schema has already checked the form. */
export function durationMs(d: Duration): number {
  if (typeof d === 'number') return d * 1000;
  let total = 0;
  for (const m of d.matchAll(DURATION_PART)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return total;
}

/** A duration as Podman and Go read it: whole seconds as '30s', else '1500ms'. */
export function formatGoDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const IEC: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** '512Mi' → 536870912. */
export function iecBytes(size: string): number {
  const m = /^([0-9]+)(Ki|Mi|Gi|Ti)$/.exec(size);
  if (!m) throw new Error(`not an IEC size: ${size}`);
  return Number(m[1]) * IEC[m[2]!]!;
}
