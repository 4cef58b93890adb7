import { describe, expect, it } from 'vitest';
import { backoffFrom, backoffRemainingMs, elapsedMs, markNow } from '../../src/supervise/clock-marks.js';
import { ADOPT_DEADLINE_GRACE_SEC } from '../../src/supervise/plan-adoption.js';
import { planSteps } from '../../src/supervise/plan-steps.js';
import { filesHash, UPDATE_DEADLINE_GRACE_SEC } from '../../src/supervise/plan-update.js';
import type { Desired, DesiredApp, Observed, Step } from '../../src/supervise/types.js';
import { app, converged, S, unit } from './fake-systemd.js';

// A node without an RTC boots in 1970 or at its last shutdown and NTP moves the wall clock
// later; a user sets the date by hand. Backoffs and the update and adoption deadlines must
// neither fire early (a clock set forward) nor hold an app for as long as the clock went back.

const kinds = (steps: Step[]) => steps.map((s) => s.kind);
const HALF_HOUR_MS = 30 * 60 * 1000;

/** The same node `ms` later on the monotonic clock, with the wall clock moved `jumpMs` on top. */
function later(o: Observed, ms: number, jumpMs = 0): Observed {
  return { ...o, nowMono: o.nowMono + ms * 1000, nowMs: o.nowMs + ms + jumpMs };
}

/** The node after a reboot: a new boot id, the monotonic clock from zero. */
function rebooted(o: Observed, wallMs: number): Observed {
  return { ...o, bootId: 'boot-2', nowMono: 30 * S, nowMs: wallMs };
}

describe('clock marks', () => {
  const o = { nowMs: 1_800_000_000_000, nowMono: 1000 * S, bootId: 'boot-1' };

  it('elapsed time is monotonic within a boot, whatever the wall clock does', () => {
    const mark = markNow(o);
    expect(elapsedMs(mark, { ...o, nowMono: o.nowMono + 10 * S, nowMs: o.nowMs + HALF_HOUR_MS })).toBe(10_000);
    expect(elapsedMs(mark, { ...o, nowMono: o.nowMono + 10 * S, nowMs: o.nowMs - HALF_HOUR_MS })).toBe(10_000);
    // Across a reboot only the wall clock spans the gap.
    expect(elapsedMs(mark, { bootId: 'boot-2', nowMono: 5 * S, nowMs: o.nowMs + 90_000 })).toBe(90_000);
    // A mark without a boot (written by an older version) counts on the wall clock.
    expect(elapsedMs({ atMs: o.nowMs }, { ...o, nowMs: o.nowMs + 7000 })).toBe(7000);
  });

  it('a backoff runs its delay within the boot; after a reboot never longer than its delay', () => {
    const b = { failures: 2, ...backoffFrom(o, 20_000) };
    expect(backoffRemainingMs(b, { ...o, nowMono: o.nowMono + 5 * S, nowMs: o.nowMs + HALF_HOUR_MS })).toBe(15_000);
    expect(backoffRemainingMs(b, { ...o, nowMono: o.nowMono + 5 * S, nowMs: o.nowMs - HALF_HOUR_MS })).toBe(15_000);
    expect(backoffRemainingMs(b, { bootId: 'boot-2', nowMono: S, nowMs: o.nowMs - HALF_HOUR_MS })).toBe(20_000);
    expect(backoffRemainingMs(b, { bootId: 'boot-2', nowMono: S, nowMs: o.nowMs + 5000 })).toBe(15_000);
    // An entry from before (wall clock only) keeps its meaning.
    expect(backoffRemainingMs({ failures: 1, notBeforeMs: o.nowMs + 3000 }, o)).toBe(3000);
  });
});

describe('backoff under a clock jump', () => {
  function backedOff() {
    const d: Desired = { apps: [app('a', 'running', ['web'])] };
    const o: Observed = { ...converged(d.apps, 'failed'), bootId: 'boot-1' };
    const set = planSteps(d, o).find((s) => s.kind === 'setBackoff');
    if (set?.kind !== 'setBackoff') throw new Error('no setBackoff step');
    const { kind: _k, app: _a, unit: _u, reason: _r, ...entry } = set;
    o.backoff['a-web.service'] = entry;
    return { d, o, delayMs: entry.delayMs! };
  }

  it('a wall clock set forward half an hour does not end the backoff early', () => {
    const { d, o } = backedOff();
    expect(kinds(planSteps(d, later(o, 1000, HALF_HOUR_MS)))).toEqual(['wait']);
  });

  it('a wall clock set back half an hour does not hold the unit beyond its delay', () => {
    const { d, o, delayMs } = backedOff();
    expect(kinds(planSteps(d, later(o, delayMs + 1000, -HALF_HOUR_MS)))).toContain('start');
  });

  it('after a reboot with the clock set back, the unit waits at most its delay', () => {
    const { d, o, delayMs } = backedOff();
    const wait = planSteps(d, rebooted(o, o.nowMs - HALF_HOUR_MS));
    expect(wait).toEqual([
      expect.objectContaining({ kind: 'wait', reason: expect.stringContaining(`next start in ${delayMs / 1000} s`) }),
    ]);
  });
});

describe('an update under a clock jump', () => {
  /** `a` switched to v2 at `o`'s now (both clocks, boot-1), its units not healthy yet. */
  function switching(state: string, extra: Parameters<typeof unit>[1] = {}) {
    const v1 = app('a', 'running', ['web'], { rendered: { ...app('a', 'running', ['web']).rendered!, version: '1' } });
    const good = filesHash(v1.rendered!.files);
    const files = v1.rendered!.files.map((f) => ({ ...f, content: `${f.content}# v2\n` }));
    const v2: DesiredApp = { ...v1, rendered: { ...v1.rendered!, files, version: '2' }, lastGoodHash: good };
    const o: Observed = { ...converged([v2]), bootId: 'boot-1' };
    const a: DesiredApp = {
      ...v2,
      update: {
        phase: 'switching',
        toHash: filesHash(files),
        fromHash: good,
        toVersion: '2',
        startedAt: 'then',
        switchedAtMs: o.nowMs,
        switchedAtMono: o.nowMono,
        bootId: 'boot-1',
      },
    };
    o.units['a-web.service'] = unit(state, { execMainStartMono: o.nowMono + S, ...extra });
    return { d: { apps: [a] } as Desired, o };
  }
  const limitMs = (60 + UPDATE_DEADLINE_GRACE_SEC) * 1000;

  it('a wall clock set forward does not roll back an update still within its deadline', () => {
    const { d, o } = switching('activating', { subState: 'start' });
    expect(kinds(planSteps(d, later(o, 10_000, HALF_HOUR_MS)))).not.toContain('updateRollBack');
  });

  it('a wall clock set back does not keep an update that never settles past its deadline', () => {
    const { d, o } = switching('inactive', { execMainStartMono: 0 });
    expect(kinds(planSteps(d, later(o, limitMs - 5000, -HALF_HOUR_MS)))).not.toContain('updateRollBack');
    expect(planSteps(d, later(o, limitMs + 5000, -HALF_HOUR_MS))[0]).toMatchObject({ kind: 'updateRollBack' });
  });

  it('a unit that fails after the switch counts, though the wall clock went back since', () => {
    const { d, o } = switching('failed', { result: 'exit-code' });
    expect(planSteps(d, later(o, 3000, -HALF_HOUR_MS))[0]).toMatchObject({
      kind: 'updateRollBack',
      why: expect.stringContaining('a-web.service'),
    });
  });
});

describe('an adoption under a clock jump', () => {
  function started(state: string) {
    const a = app('k', 'running', ['web'], {
      adoption: {
        phase: 'starting',
        startedAt: 'then',
        containers: [
          { name: 'k-web', aside: 'k-web.pre-adoption', restartPolicy: 'no', wasRunning: true, stopTimeoutSec: 30 },
        ],
        switchedAtMs: 1_800_000_000_000,
        switchedAtMono: 1000 * S,
        bootId: 'boot-1',
      },
    });
    const o: Observed = { ...converged([a], state), bootId: 'boot-1', nowMono: 1000 * S, nowMs: 1_800_000_000_000 };
    o.units['k-web.service'] = unit(state, { execMainStartMono: 0 });
    o.containers = { 'k-web.pre-adoption': { state: 'exited', ports: [] } };
    return { d: { apps: [a] } as Desired, o };
  }
  const limitMs = (60 + ADOPT_DEADLINE_GRACE_SEC) * 1000;

  it('a wall clock set forward does not roll back an adoption within its deadline', () => {
    const { d, o } = started('inactive');
    expect(kinds(planSteps(d, later(o, 10_000, HALF_HOUR_MS)))).not.toContain('adoptRollBack');
  });

  it('a wall clock set back does not keep units that never settle past the deadline', () => {
    const { d, o } = started('inactive');
    expect(kinds(planSteps(d, later(o, limitMs + 5000, -HALF_HOUR_MS)))).toEqual(['adoptRollBack']);
  });
});
