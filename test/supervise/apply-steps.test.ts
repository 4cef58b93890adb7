import { describe, expect, it } from 'vitest';
import { applySteps, makeExecutors, type Executors } from '../../src/supervise/apply-steps.js';
import { backoffStore } from '../../src/supervise/supervisor.js';
import type { SupervisorState } from '../../src/supervise/state-store.js';
import type { Podman } from '../../src/supervise/podman.js';
import type { Systemctl } from '../../src/supervise/systemctl.js';
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

describe('destructive steps check the intent as recorded when they run', () => {
  it('never removes data of, or forgets, an app installed again since the pass looked', async () => {
    const state: SupervisorState = {
      version: 1,
      apps: { web: { intent: 'running', installedAt: '2026-01-01T00:00:00Z' } },
    };
    const removed: string[] = [];
    const podman = {
      removeVolume: async (v: string) => void removed.push(v),
      removeSecret: async (v: string) => void removed.push(v),
    } as unknown as Podman;
    const ex = makeExecutors({
      unitRoot: '/nonexistent',
      systemctl: {} as Systemctl,
      podman,
      desired: { apps: [] },
      backoff: backoffStore({}),
      changeState: async (change) => change(state),
      readState: async () => state,
    });
    const purge = 'purge: app data';
    await expect(
      ex.removeVolume({ kind: 'removeVolume', app: 'web', volume: 'web-data', reason: purge }),
    ).rejects.toThrow(/installed again/);
    await expect(
      ex.removeSecret({ kind: 'removeSecret', app: 'web', secret: 'web-pw', reason: purge }),
    ).rejects.toThrow(/installed again/);
    await ex.forgetApp({ kind: 'forgetApp', app: 'web', reason: 'uninstalled and purged' });
    expect(removed).toEqual([]);
    expect(state.apps.web?.intent).toBe('running');
    // Still being purged: it goes.
    state.apps.web = { intent: 'absent', purge: true, installedAt: '2026-01-01T00:00:00Z' };
    await ex.removeVolume({ kind: 'removeVolume', app: 'web', volume: 'web-data', reason: purge });
    await ex.forgetApp({ kind: 'forgetApp', app: 'web', reason: 'uninstalled and purged' });
    expect(removed).toEqual(['web-data']);
    expect(state.apps.web).toBeUndefined();
  });
});
