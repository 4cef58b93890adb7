import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module script, without types
import { parseResults, renderReport } from '../../scripts/gate-report.mjs';
// @ts-expect-error: a plain ES module script, without types
import { tapFromVitestReport } from '../../scripts/vitest-tap.mjs';
import { gateIterations } from './results.js';
import { ALLOWED_SEQUENCES, stateSequence } from './gate-apps.js';

const ev = (iteration: number, app: string, event: string, ok: boolean, ms: number) => ({
  kind: 'event',
  iteration,
  app,
  event,
  ok,
  ms,
  startedAt: 1000 * iteration,
  endedAt: 1000 * iteration + ms,
});

describe('the gate report', () => {
  it('counts passes per app and event, keeps the slowest time, and lists failures', () => {
    const md: string = renderReport(
      [
        ev(1, 'web', 'install', true, 1200),
        ev(2, 'web', 'install', true, 3400),
        ev(1, 'web', 'stop', true, 500),
        ev(2, 'web', 'stop', false, 61000),
        {
          kind: 'chaos',
          scenario: 2,
          title: 'crash loop',
          boundMs: 120000,
          ok: true,
          ms: 45000,
          startedAt: 0,
          endedAt: 90000,
        },
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

describe('the gate TAP', () => {
  it('has one line per test, numbered, with a YAML block for each failure and a failed file of its own', () => {
    const tap: string = tapFromVitestReport(
      {
        testResults: [
          {
            name: '/repo/test/chaos/a.integration.test.ts',
            status: 'failed',
            assertionResults: [
              { ancestorTitles: ['chaos'], title: '1. kill -9 # mid-pass', status: 'passed', duration: 1500 },
              {
                ancestorTitles: ['chaos'],
                title: '2. crash loop',
                status: 'failed',
                duration: 9,
                failureMessages: ['AssertionError: expected 1 to be 2\n    at x'],
              },
              { ancestorTitles: [], title: 'later', status: 'skipped' },
            ],
          },
          {
            name: '/repo/test/lifecycle/b.integration.test.ts',
            status: 'failed',
            message: 'Cannot find module x',
            assertionResults: [],
          },
        ],
      },
      '/repo',
    );
    expect(tap.split('\n')).toEqual([
      'TAP version 13',
      '1..4',
      'ok 1 - test/chaos/a.integration.test.ts > chaos > 1. kill -9 \\# mid-pass # time=1500.00ms',
      'not ok 2 - test/chaos/a.integration.test.ts > chaos > 2. crash loop',
      '  ---',
      '  message: "AssertionError: expected 1 to be 2"',
      '  detail: "AssertionError: expected 1 to be 2\\n    at x"',
      '  ...',
      'ok 3 - test/chaos/a.integration.test.ts > later # SKIP',
      'not ok 4 - test/lifecycle/b.integration.test.ts',
      '  ---',
      '  message: "Cannot find module x"',
      '  detail: "Cannot find module x"',
      '  ...',
      '',
    ]);
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
