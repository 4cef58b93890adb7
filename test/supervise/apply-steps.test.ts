import { describe, expect, it } from 'vitest';
import { applySteps, makeExecutors, type Executors } from '../../src/supervise/apply-steps.js';
import { backoffStore } from '../../src/supervise/supervisor.js';
import type { SupervisorState } from '../../src/supervise/state-store.js';
import type { Podman } from '../../src/supervise/podman.js';
import type { Systemctl } from '../../src/supervise/systemctl.js';
import type { Step } from '../../src/supervise/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { app } from './fake-systemd.js';
import { filesHash } from '../../src/supervise/plan-update.js';
import { readLastGood, writeLastGood } from '../../src/supervise/last-good-store.js';

/** Executors over a state in memory and a fake Podman: no systemd, no files. */
function executorsOver(state: SupervisorState, podman: Podman) {
  return makeExecutors({
    unitRoot: '/nonexistent',
    systemctl: {} as Systemctl,
    podman,
    desired: { apps: [] },
    backoff: backoffStore({}),
    changeState: async (change) => change(state),
    readState: async () => state,
  });
}

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
    const ex = executorsOver(state, podman);
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

describe('restoreContainer', () => {
  function setup() {
    const calls: string[] = [];
    const podman = {
      setRestartPolicy: async (name: string, policy: string) => void calls.push(`policy ${name} ${policy}`),
      renameContainer: async (from: string, to: string) => void calls.push(`rename ${from} ${to}`),
      startContainer: async (name: string) => void calls.push(`start ${name}`),
    } as unknown as Podman;
    const state: SupervisorState = {
      version: 1,
      apps: {
        k: {
          intent: 'absent',
          installedAt: 'then',
          adoption: {
            phase: 'rollingBack',
            startedAt: 'then',
            containers: [
              {
                name: 'k-web',
                aside: 'k-web.pre-adoption',
                restartPolicy: 'always',
                wasRunning: true,
                stopTimeoutSec: 10,
              },
            ],
          },
        },
      },
    };
    const ex = executorsOver(state, podman);
    return { ex, calls, restarted: () => state.apps.k!.adoption!.containers[0]!.restarted };
  }
  const step = (extra: Partial<Record<string, unknown>> = {}) =>
    ({
      kind: 'restoreContainer',
      app: 'k',
      container: 'k-web',
      restartPolicy: 'always',
      start: true,
      reason: 'r',
      ...extra,
    }) as never;

  it('renames the old container back before it starts it (its DNS name is the one it starts with)', async () => {
    const { ex, calls } = setup();
    await ex.restoreContainer(step({ aside: 'k-web.pre-adoption' }));
    expect(calls).toEqual(['policy k-web.pre-adoption always', 'rename k-web.pre-adoption k-web', 'start k-web']);
  });

  it('marks an old container it started, and only once started, so a rollback does not start it again', async () => {
    const a = setup();
    await a.ex.restoreContainer(step({ aside: 'k-web.pre-adoption' }));
    expect(a.restarted()).toBe(true);
    const b = setup();
    await b.ex.restoreContainer(step({ aside: 'k-web.pre-adoption', start: false }));
    expect(b.restarted()).toBeUndefined();
  });

  it('without an aside name (renamed back already), only starts it; one that did not run is not started', async () => {
    const a = setup();
    await a.ex.restoreContainer(step());
    expect(a.calls).toEqual(['policy k-web always', 'start k-web']);
    const b = setup();
    await b.ex.restoreContainer(step({ aside: 'k-web.pre-adoption', start: false }));
    expect(b.calls).toEqual(['policy k-web.pre-adoption always', 'rename k-web.pre-adoption k-web']);
  });
});

describe('pruneBuilds', () => {
  function setup(images: Array<{ id: string; tags: string[]; containers: number }> | Error) {
    const state: SupervisorState = {
      version: 1,
      apps: { ui: { intent: 'running', installedAt: 'then', lastGood: { hash: 'h1', recordedAt: 'then' } } },
    };
    const removed: string[] = [];
    const podman = {
      appImages: async () => {
        if (images instanceof Error) throw images;
        return images;
      },
      removeImage: async (id: string) => void removed.push(id),
    } as unknown as Podman;
    const ex = executorsOver(state, podman);
    return { ex, state, removed };
  }
  const step = (hash = 'h1'): Step => ({
    kind: 'pruneBuilds',
    app: 'ui',
    keep: ['localhost/archy/ui:1.0.0-bbb'],
    hash,
    reason: 'pruned',
  });

  it('removes only unused earlier builds of ours, and marks the set pruned', async () => {
    const { ex, state, removed } = setup([
      { id: 'old', tags: ['localhost/archy/ui:1.0.0-aaa'], containers: 0 },
      { id: 'dangling', tags: [], containers: 0 },
      { id: 'current', tags: ['localhost/archy/ui:1.0.0-bbb'], containers: 0 },
      { id: 'running', tags: ['localhost/archy/ui:0.9.0-ccc'], containers: 1 },
      { id: 'pulled', tags: ['docker.io/someone/ui:1'], containers: 0 },
    ]);
    await ex.pruneBuilds(step() as never);
    expect(removed).toEqual(['old', 'dangling']);
    expect(state.apps.ui!.lastGood!.buildsPruned).toBe(true);
  });

  it('with Podman failing, or for a set recorded since, leaves it for the next set rather than every pass', async () => {
    const failing = setup(new Error('podman: cannot connect'));
    await failing.ex.pruneBuilds(step() as never);
    expect(failing.state.apps.ui!.lastGood!.buildsPruned).toBe(true);
    const moved = setup([]);
    await moved.ex.pruneBuilds(step('h0') as never);
    expect(moved.state.apps.ui!.lastGood!.buildsPruned).toBeUndefined();
  });
});

describe('beginUpdate of an app with no last good set yet (recordRunning)', () => {
  const v1 = app('a', 'running', ['web']).rendered!;
  const v2 = { ...v1, files: v1.files.map((f) => ({ ...f, content: `${f.content}# v2\n` })) };
  const good = filesHash(v1.files);

  /** The executor run with a last-good file of `fileHash` (none when undefined) and no set in the state. */
  async function begin(fileHash?: string) {
    const stateDir = mkdtempSync(join(tmpdir(), 'aq-begin-'));
    if (fileHash) await writeLastGood(stateDir, 'a', { version: 1, hash: fileHash, rendered: v1, recordedAt: 'then' });
    const state: SupervisorState = { version: 1, apps: { a: { intent: 'running', installedAt: 'then' } } };
    const ex = makeExecutors({
      unitRoot: '/nonexistent',
      systemctl: {} as Systemctl,
      podman: { inspectContainers: async () => [] } as unknown as Podman,
      desired: { apps: [{ ...app('a', 'running', ['web']), rendered: v2, earlierRenderings: [v1] }] },
      backoff: backoffStore({}),
      changeState: async (change) => change(state),
      readState: async () => state,
      stateDir,
    });
    const step = {
      kind: 'beginUpdate',
      app: 'a',
      toHash: filesHash(v2.files),
      fromHash: good,
      recordRunning: true,
      reason: 'update',
    } as const;
    await ex.beginUpdate(step);
    const set = await readLastGood(stateDir, 'a');
    rmSync(stateDir, { recursive: true, force: true });
    return { state, set };
  }

  it('records the set it runs on, and begins the update on it', async () => {
    const { state, set } = await begin();
    expect(set?.hash).toBe(good);
    expect(state.apps.a!.lastGood?.hash).toBe(good);
    expect(state.apps.a!.update).toMatchObject({ phase: 'switching', fromHash: good });
  });

  it('after a kill between its file and the state: the state is made to say so', async () => {
    const { state, set } = await begin(good);
    expect(set?.hash).toBe(good);
    expect(state.apps.a!.lastGood?.hash).toBe(good);
    expect(state.apps.a!.update).toMatchObject({ phase: 'switching', fromHash: good });
  });

  it('replaces a file of another set left by an earlier install, rather than going on ungated', async () => {
    const { state, set } = await begin('0000000000000000');
    expect(set?.hash).toBe(good);
    expect(state.apps.a!.lastGood?.hash).toBe(good);
    expect(state.apps.a!.update).toMatchObject({ phase: 'switching', fromHash: good });
  });
});
