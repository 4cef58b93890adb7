import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script, without types
import { parseResults, renderReport } from '../../scripts/gate-report.mjs';
import { gateIterations } from './results.js';
import { ALLOWED_SEQUENCES, stateSequence } from './gate-apps.js';

const ev = (iteration: number, app: string, event: string, ok: boolean, ms: number) => ({ kind: 'event', iteration, app, event, ok, ms, startedAt: 1000 * iteration, endedAt: 1000 * iteration + ms });

describe('the gate report', () => {
  it('counts passes per app and event, keeps the slowest time, and lists failures', () => {
    const md: string = renderReport(
      [
        ev(1, 'web', 'install', true, 1200),
        ev(2, 'web', 'install', true, 3400),
        ev(1, 'web', 'stop', true, 500),
        ev(2, 'web', 'stop', false, 61000),
        { kind: 'chaos', scenario: 2, title: 'crash loop', boundMs: 120000, ok: true, ms: 45000, startedAt: 0, endedAt: 90000 },
      ],
      { commit: 'abc1234', date: '2026-11-23 12:00 UTC' },
    );
    expect(md).toContain('| web | 2/2 · 3.4 s | **1/2** · 61.0 s |');
    expect(md).toContain('| 2 | crash loop | 120.0 s | 45.0 s | 1/1 |');
    expect(md).toContain('- iterations: 2');
    expect(md).toContain('- events checked: 4 (1 apps × 2 events × 2 iterations)');
    expect(md).toContain('- result: **red**: 1 failure(s)');
    expect(md).toContain('- iteration 2, web, stop: failed');
    expect(md).toContain('- commit: abc1234');
  });

  it('is green only without failures, and refuses a results file that is not JSON lines', () => {
    expect(renderReport([ev(1, 'web', 'install', true, 1)])).toContain('- result: **green**');
    expect(() => parseResults('{"kind":"event"}\nnot json\n')).toThrow(/results line 2 is not JSON/);
  });
});

describe('gate settings and status patterns', () => {
  it('reads ARCHY_ITERATIONS strictly', () => {
    expect(gateIterations(undefined)).toBe(1);
    expect(gateIterations('')).toBe(1);
    expect(gateIterations('20')).toBe(20);
    for (const bad of ['0', '-1', '2.5', 'many', '1001']) expect(() => gateIterations(bad)).toThrow(/ARCHY_ITERATIONS/);
  });

  it('accepts the transitions a user may see, and never "failed"', () => {
    expect(stateSequence(['running', 'running', 'stopping', 'stopped'])).toBe('running stopping stopped');
    expect('running stopping stopped').toMatch(ALLOWED_SEQUENCES.stop!);
    expect('running failed stopped').not.toMatch(ALLOWED_SEQUENCES.stop!);
    expect('stopped starting partial running').toMatch(ALLOWED_SEQUENCES.start!);
    expect('running stopped').not.toMatch(ALLOWED_SEQUENCES.start!);
    expect('running uninstalling absent').toMatch(ALLOWED_SEQUENCES.uninstall!);
    expect('running absent running').not.toMatch(ALLOWED_SEQUENCES.uninstall!);
  });
});
