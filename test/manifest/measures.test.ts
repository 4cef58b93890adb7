import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { durationMs } from '../../src/manifest/measures.js';

// durationMs scans the text; it must read every string as the regex it replaced did.

function byRegex(d: string): number {
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  for (const m of d.matchAll(/([0-9]+)(ms|s|m|h)/g)) total += Number(m[1]) * unit[m[2]!]!;
  return total;
}

describe('durationMs', () => {
  it('reads the schema’s forms', () => {
    expect(durationMs(30)).toBe(30_000);
    expect(durationMs('1m30s')).toBe(90_000);
    expect(durationMs('1500ms')).toBe(1500);
    expect(durationMs('2h')).toBe(7_200_000);
    expect(durationMs('1h2m3s4ms')).toBe(3_723_004);
  });

  it('reads any string as the regex did', () => {
    const part = fc.oneof(fc.nat(5000).map(String), fc.constantFrom('ms', 's', 'm', 'h', 'x', ' ', 'mm', 'sm'));
    fc.assert(
      fc.property(fc.array(part, { maxLength: 8 }), (parts) => {
        const d = parts.join('');
        return durationMs(d) === byRegex(d);
      }),
      { numRuns: 3000 },
    );
  });
});
