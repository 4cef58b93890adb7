import { describe, expect, it } from 'vitest';
import { applySteps, type Executors } from '../../src/supervise/apply-steps.js';
import type { Step } from '../../src/supervise/types.js';

describe('applySteps', () => {
  it('runs every step in order; a failing one is reported and the others still run', async () => {
    const ran: string[] = [];
    const ok = async (s: Step) => void ran.push(`${s.kind}:${s.app}`);
    const executors = new Proxy({} as Executors, {
      get: (_t, kind: string) => async (s: Step) => {
        if (kind === 'start' && s.app === 'broken') throw new Error('no such image');
        await ok(s);
      },
    });
    const steps: Step[] = [
      { kind: 'start', app: 'broken', units: ['broken.service'], reason: 'app should be running' },
      { kind: 'start', app: 'web', units: ['web.service'], reason: 'app should be running' },
      { kind: 'stop', app: 'db', units: ['db.service'], reason: 'app should be stopped' },
    ];
    const seen: string[] = [];
    const outcomes = await applySteps(steps, executors, (o) => seen.push(`${o.step.app}:${o.ok}`));
    expect(ran).toEqual(['start:web', 'stop:db']);
    expect(outcomes.map((o) => [o.step.app, o.ok, o.error])).toEqual([
      ['broken', false, 'no such image'],
      ['web', true, undefined],
      ['db', true, undefined],
    ]);
    expect(seen).toEqual(['broken:false', 'web:true', 'db:true']);
  });
});
