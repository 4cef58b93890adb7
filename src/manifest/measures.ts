import type { Duration } from './types.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * 30 → 30000, '1m30s' → 90000. The schema has already checked the form. A scan, not
 * `matchAll` (which copies its regex every call: a tenth of rendering 500 manifests, measured).
 */
export function durationMs(d: Duration): number {
  if (typeof d === 'number') return d * 1000;
  let total = 0;
  let i = 0;
  while (i < d.length) {
    const start = i;
    for (let c = d.charCodeAt(i); c >= 48 && c <= 57; c = d.charCodeAt(++i));
    const unit = d.startsWith('ms', i) ? 'ms' : (d[i] ?? '');
    if (i === start || !(unit in UNIT_MS)) {
      i = i === start ? i + 1 : i; // not a part (the schema rules it out): skipped as the regex did
      continue;
    }
    total += Number(d.slice(start, i)) * UNIT_MS[unit]!;
    i += unit.length;
  }
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
