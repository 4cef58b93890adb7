import { describe, expect, it } from 'vitest';
import { planSteps } from '../../src/supervise/plan-steps.js';
import { filesHash, lastGoodDue, UPDATE_DEADLINE_GRACE_SEC } from '../../src/supervise/plan-update.js';
import { computeStatus } from '../../src/supervise/status.js';
import { updateCheckOf } from '../../src/supervise/update.js';
import type { Desired, DesiredApp, Observed, Step } from '../../src/supervise/types.js';
import { app, applyFake, converged, S, unit } from './fake-systemd.js';

const kinds = (steps: Step[]) => steps.map((s) => s.kind);

/** `a` on its last good set (v1), running healthy; and its v2 rendering. */
function node(cs = ['web']) {
  const v1 = app('a', 'running', cs, { rendered: { ...app('a', 'running', cs).rendered!, version: '1' } });
  const good = filesHash(v1.rendered!.files);
  const v2files = v1.rendered!.files.map((f) => ({ ...f, content: `${f.content}# v2\n` }));
  const v2: DesiredApp = { ...v1, rendered: { ...v1.rendered!, files: v2files, version: '2' }, lastGoodHash: good };
  return { v1: { ...v1, lastGoodHash: good }, v2, good, next: filesHash(v2files), o: converged([v1]) };
}

/**
 * What the update steps' executors do to the state, and what load-desired then makes of it
 * (the last good set desired while an update is rolled back), on top of the fake systemd.
 */
function step(d: Desired, o: Observed, steps: Step[], lastGood: DesiredApp): { d: Desired; o: Observed } {
  const next = applyFake(d, o, steps);
  let apps = next.desired.apps;
  for (const s of steps) {
    apps = apps.map((a): DesiredApp => {
      if (a.id !== s.app) return a;
      const rendered = a.heldBack ?? a.rendered!;
      switch (s.kind) {
        case 'beginUpdate':
          return {
            ...a,
            update: {
              phase: 'switching',
              toHash: s.toHash,
              fromHash: s.fromHash,
              ...(s.toVersion ? { toVersion: s.toVersion } : {}),
              startedAt: 'then',
              switchedAtMs: next.observed.nowMs,
            },
          };
        case 'recordLastGood': {
          const { update: _u, ...rest } = a;
          return { ...rest, lastGoodHash: s.hash };
        }
        case 'updateRollBack':
          return {
            ...a,
            update: { ...a.update!, phase: 'rollingBack', reason: s.why },
            rendered: lastGood.rendered,
            heldBack: rendered,
          };
        case 'snapshotVolumes':
          return { ...a, update: { ...a.update!, snapshot: { volumes: s.volumes, at: 'then' } } };
        case 'restoreVolumes':
          return { ...a, update: { ...a.update!, restored: true } };
        case 'updateRolledBack':
          return { ...a, update: { ...a.update!, phase: 'rolledBack' } };
        default:
          return a;
      }
    });
  }
  return { d: { apps }, o: next.observed };
}

describe('plan-update: an update is recorded before its files are written', () => {
  it('a running app on its last good set: beginUpdate alone, then the files, a reload and the restart', () => {
    const { v2, good, next, o } = node();
    const steps = planSteps({ apps: [v2] }, o);
    expect(steps).toEqual([
      {
        kind: 'beginUpdate',
        app: 'a',
        toHash: next,
        fromHash: good,
        toVersion: '2',
        reason: 'update to 2: its units that run now are kept as the last good set',
      },
    ]);
    const after = step({ apps: [v2] }, o, steps, v2);
    expect(kinds(planSteps(after.d, after.o))).toEqual(['writeUnit', 'daemonReload']);
  });

  it('status: a new release not yet begun is not converged, though the old version runs healthy', () => {
    const { v1, v2, o } = node();
    // What a pass that could not run (the lock held after a reboot, say) leaves: the old
    // units running, the update still to begin. Converged, a caller would stop waiting there.
    expect(computeStatus({ apps: [v2] }, o)[0]).toMatchObject({ state: 'running', converged: false });
    expect(computeStatus({ apps: [v1] }, o)[0]).toMatchObject({ state: 'running', converged: true });
    // Its files not yet written while another app's are: still not converged.
    const other = app('b', 'running', ['web']);
    const both = converged([v1, other]);
    both.files.b = both.files.b!.map((f) => ({ ...f, content: `${f.content}# stale\n` }));
    const views = computeStatus({ apps: [v2, other] }, both);
    expect(views.map((v) => [v.id, v.converged])).toEqual([
      ['a', false],
      ['b', false],
    ]);
    expect(computeStatus({ apps: [v1, other] }, both).map((v) => [v.id, v.converged])).toEqual([
      ['a', true],
      ['b', false],
    ]);
  });

  it('no update (plain writes) for an app that is stopped, has no last good set, or runs on files edited by hand', () => {
    const { v2, o } = node();
    const stopped = converged([{ ...v2, intent: 'running' }], 'inactive');
    stopped.files = o.files;
    expect(kinds(planSteps({ apps: [v2] }, stopped))).toEqual(['writeUnit', 'daemonReload']);
    const { lastGoodHash: _h, ...none } = v2;
    expect(kinds(planSteps({ apps: [none] }, o))).toEqual(['writeUnit', 'daemonReload']);
    const edited = structuredClone(o);
    edited.files.a![0]!.content += '# by hand\n';
    expect(kinds(planSteps({ apps: [v2] }, edited))).toEqual(['writeUnit', 'daemonReload']);
  });

  it('updated moments after its install (no last good set yet): the files it runs on become the set to go back to', () => {
    const { v1, v2, good, next, o } = node();
    const { lastGoodHash: _h, ...fresh } = v2;
    const justUp = structuredClone(o);
    justUp.units['a-web.service'] = { ...justUp.units['a-web.service']!, activeEnterMono: o.nowMono - S };
    const running: DesiredApp = { ...fresh, earlierRenderings: [v1.rendered!] };
    expect(planSteps({ apps: [running] }, justUp)).toEqual([
      {
        kind: 'beginUpdate',
        app: 'a',
        toHash: next,
        fromHash: good,
        toVersion: '2',
        recordRunning: true,
        reason: 'update to 2: its units that run now are kept as the last good set (recorded now: it had none yet)',
      },
    ]);
    // Not up on them (still starting, or failed), or the files on disk are another set: a plain write.
    const starting = structuredClone(justUp);
    starting.units['a-web.service'] = unit('activating');
    expect(kinds(planSteps({ apps: [running] }, starting))).toEqual(['writeUnit', 'daemonReload']);
    const neverWritten = { ...v1.rendered!, files: v1.rendered!.files.map((f) => ({ ...f, content: 'x' })) };
    const other: DesiredApp = { ...running, earlierRenderings: [neverWritten] };
    expect(kinds(planSteps({ apps: [other] }, justUp))).toEqual(['writeUnit', 'daemonReload']);
    // Edited twice before a pass wrote the first edit: the one on disk is the set kept.
    const twice: DesiredApp = { ...running, earlierRenderings: [neverWritten, v1.rendered!] };
    expect(planSteps({ apps: [twice] }, justUp)).toMatchObject([
      { kind: 'beginUpdate', fromHash: good, recordRunning: true },
    ]);
  });

  it('writing the last good set itself (a repair) is no update', () => {
    const { v1, o } = node();
    const edited = structuredClone(o);
    edited.files.a![0]! = { ...edited.files.a![0]!, content: 'x', intact: false };
    expect(kinds(planSteps({ apps: [v1] }, edited))).toEqual(['writeUnit', 'daemonReload']);
  });
});

describe('plan-update: the gate', () => {
  /** v2 switched: files written, units restarted once (now at `o.nowMono`). */
  function switched() {
    const n = node(['db', 'web']);
    let d: Desired = { apps: [n.v2] };
    let o = n.o;
    for (let i = 0; i < 6; i++) {
      const steps = planSteps(d, o);
      if (steps.some((s) => s.kind === 'recordLastGood' || s.kind === 'updateRollBack')) break;
      ({ d, o } = step(
        d,
        o,
        steps.filter((s) => s.kind !== 'wait'),
        n.v1,
      ));
    }
    return { ...n, d, o };
  }

  it('healthy new units (health-checked, so active means healthy): the new set becomes the last good one', () => {
    const { d, o, next } = switched();
    expect(d.apps[0]!.update?.phase).toBe('switching');
    const steps = planSteps(d, o);
    expect(steps).toContainEqual({
      kind: 'recordLastGood',
      app: 'a',
      hash: next,
      reason: 'updated to 2: healthy on its new units, which become the last good set',
    });
  });

  it('a new unit started before the reload that loaded its file is not the new version: restarted, not recorded', () => {
    const { d, o } = switched();
    // a-web started again (by systemd, at boot say) after its new file was written but before
    // the reload of ours that loaded it: what runs is the old definition.
    const web = o.files.a!.find((f) => f.name === 'a-web.container')!;
    const raced: Observed = {
      ...o,
      units: { ...o.units, 'a-web.service': { ...o.units['a-web.service']!, execMainStartMono: web.mtimeMono + 1 } },
      reloads: { completeFrom: 0, marks: [web.mtimeMono + 2] },
    };
    const steps = planSteps(d, raced);
    expect(kinds(steps)).not.toContain('recordLastGood');
    expect(steps).toContainEqual(expect.objectContaining({ kind: 'restart', units: ['a-web.service'] }));
  });

  it('a container without a health check is watched for a few seconds first', () => {
    const { d, o } = switched();
    const noCheck: Desired = {
      apps: [
        {
          ...d.apps[0]!,
          rendered: {
            ...d.apps[0]!.rendered!,
            containers: d.apps[0]!.rendered!.containers.map((c) => ({ ...c, readiness: false })),
          },
        },
      ],
    };
    const waiting = planSteps(noCheck, {
      ...o,
      units: { ...o.units, 'a-web.service': { ...o.units['a-web.service']!, activeEnterMono: o.nowMono - 1 * S } },
    });
    expect(waiting.find((s) => s.kind === 'wait')?.reason).toMatch(
      /^updating to 2: a-(db|web).service is active: watched for 5 s/,
    );
    expect(kinds(planSteps(noCheck, { ...o, nowMono: o.nowMono + 6 * S }))).toContain('recordLastGood');
  });

  it('a unit that fails after the switch rolls it back, with the reason; one that failed before it does not count', () => {
    const { d, o } = switched();
    const failed = {
      ...o,
      units: { ...o.units, 'a-web.service': unit('failed', { result: 'protocol', execMainStartMono: o.nowMono }) },
    };
    expect(planSteps(d, failed)).toEqual([
      {
        kind: 'updateRollBack',
        app: 'a',
        why: 'a-web.service did not become ready (its health check failed, or it exited first)',
        reason:
          'update failed: a-web.service did not become ready (its health check failed, or it exited first): rolling back to the last good set',
      },
    ]);
    const restarted = {
      ...o,
      units: {
        ...o.units,
        'a-web.service': unit('activating', {
          subState: 'auto-restart',
          result: 'exit-code',
          execMainStatus: 1,
          execMainStartMono: o.nowMono,
        }),
      },
    };
    expect(planSteps(d, restarted)[0]).toMatchObject({
      kind: 'updateRollBack',
      why: 'a-web.service exited with status 1, and was restarted by systemd',
    });
    const before = {
      ...o,
      units: { ...o.units, 'a-db.service': unit('active', { nRestarts: 3, execMainStartMono: 10 * S }) },
    };
    expect(kinds(planSteps(d, before))).not.toContain('updateRollBack');
  });

  it('a unit still starting past its start timeout rolls it back', () => {
    const { d, o } = switched();
    const slow = {
      ...o,
      nowMono: o.nowMono + 61 * S,
      nowMs: o.nowMs + 61_000,
      units: { ...o.units, 'a-web.service': unit('activating', { subState: 'start', execMainStartMono: o.nowMono }) },
    };
    expect(planSteps(d, slow)[0]).toMatchObject({
      kind: 'updateRollBack',
      why: 'a-web.service was not healthy within its start timeout (60 s)',
    });
  });

  it('units that never settle are rolled back on the wall clock, counted from the switch or their last start', () => {
    const { d, o } = switched();
    const limit = (60 + UPDATE_DEADLINE_GRACE_SEC) * 1000;
    const stuck = { ...o, units: { ...o.units, 'a-web.service': unit('inactive', { execMainStartMono: 0 }) } };
    const later = (ms: number) => ({ ...stuck, nowMs: stuck.nowMs + ms, nowMono: stuck.nowMono + ms * 1000 });
    expect(kinds(planSteps(d, later(limit - 5000)))).not.toContain('updateRollBack');
    expect(planSteps(d, later(limit + 5000))[0]).toMatchObject({
      kind: 'updateRollBack',
      why: expect.stringMatching(/^not healthy within 180 s/),
    });
  });

  it('rolled back: the last good files are written and restarted; once they run the app is rolled back, and stays so', () => {
    const { d, o, v1, good } = switched();
    const failed = {
      ...o,
      units: { ...o.units, 'a-web.service': unit('failed', { result: 'protocol', execMainStartMono: o.nowMono }) },
    };
    let cur = step(d, failed, planSteps(d, failed), v1);
    expect(cur.d.apps[0]!.update?.phase).toBe('rollingBack');
    const seen: Step[] = [];
    for (let i = 0; i < 8 && cur.d.apps[0]!.update?.phase !== 'rolledBack'; i++) {
      const steps = planSteps(cur.d, cur.o);
      seen.push(...steps);
      cur = step(
        cur.d,
        cur.o,
        steps.filter((s) => s.kind !== 'wait'),
        v1,
      );
    }
    expect(cur.d.apps[0]!.update?.phase).toBe('rolledBack');
    expect(seen.filter((s) => s.kind === 'writeUnit').map((s) => s.reason)).toContain('manifest changed');
    expect(filesHash(cur.o.files.a!)).toBe(good);
    expect(seen.find((s) => s.kind === 'updateRolledBack')?.reason).toMatch(
      /^rolled back: the last good set runs again \(a-web.service did not become ready/,
    );
    // Rolled back: converged, nothing to do, and no new update of the same files.
    cur.o.nowMono += 10 * S;
    expect(planSteps(cur.d, cur.o)).toEqual([]);
    expect(lastGoodDue(cur.d, cur.o, [])).toEqual([]);
  });

  it('a last good set that does not come back: waits within the deadline, then ends rolled back with what is wrong; the app is no longer rolling back', () => {
    const { d, o } = switched();
    const rolling: Desired = {
      apps: [
        {
          ...d.apps[0]!,
          update: {
            ...d.apps[0]!.update!,
            phase: 'rollingBack',
            reason: 'a-web.service exited',
            rollingBackAt: { atMs: o.nowMs, atMono: o.nowMono },
          },
        },
      ],
    };
    const failing = (ms: number): Observed => ({
      ...o,
      nowMs: o.nowMs + ms,
      nowMono: o.nowMono + ms * 1000,
      units: { ...o.units, 'a-web.service': unit('activating', { subState: 'auto-restart', execMainStartMono: 1 }) },
    });
    const limit = (60 + UPDATE_DEADLINE_GRACE_SEC) * 1000;
    expect(kinds(planSteps(rolling, failing(limit - 5000)))).not.toContain('updateRolledBack');
    expect(planSteps(rolling, failing(limit + 5000))).toContainEqual(
      expect.objectContaining({
        kind: 'updateRolledBack',
        unhealthy: 'a-web.service is activating',
        reason: expect.stringMatching(/^rolled back \(a-web.service exited\), but the last good set is not healthy/),
      }),
    );
    // A record from before the mark existed waits as before.
    const { rollingBackAt: _m, ...unmarked } = rolling.apps[0]!.update!;
    expect(kinds(planSteps({ apps: [{ ...rolling.apps[0]!, update: unmarked }] }, failing(limit * 10)))).not.toContain(
      'updateRolledBack',
    );
  });
});

describe('plan-update: last good sets', () => {
  it('an app running settled on files not yet its last good set is due; not while moving, updating or unsettled', () => {
    const { v1, o, good } = node();
    const { lastGoodHash: _h, ...fresh } = v1;
    expect(lastGoodDue({ apps: [fresh] }, o, [])).toEqual([{ app: 'a', hash: good }]);
    expect(lastGoodDue({ apps: [v1] }, o, [])).toEqual([]);
    expect(
      lastGoodDue({ apps: [fresh] }, o, [{ kind: 'restart', app: 'a', units: ['a-web.service'], reason: 'x' }]),
    ).toEqual([]);
    expect(lastGoodDue({ apps: [fresh] }, { ...o, units: { 'a-web.service': unit('activating') } }, [])).toEqual([]);
    const updating: DesiredApp = {
      ...fresh,
      update: { phase: 'switching', toHash: good, fromHash: 'x', startedAt: '', switchedAtMs: 0 },
    };
    expect(lastGoodDue({ apps: [updating] }, o, [])).toEqual([]);
    expect(lastGoodDue({ apps: [{ ...fresh, intent: 'stopped' }] }, o, [])).toEqual([]);
  });
});

describe('plan-update: volumes snapshotted before the switch, put back on a rollback', () => {
  it('the old containers stop, the volume is exported, then the new files are written and started; a rollback restores it first', () => {
    const n = node(['db', 'web']);
    const withSnap = (a: DesiredApp): DesiredApp => ({
      ...a,
      rendered: { ...a.rendered!, snapshotVolumes: ['a-data'] },
    });
    let d: Desired = { apps: [withSnap(n.v2)] };
    let o = n.o;
    const seen: Step[][] = [];
    for (let i = 0; i < 12 && !seen.flat().some((s) => s.kind === 'recordLastGood'); i++) {
      const steps = planSteps(d, o);
      seen.push(steps);
      ({ d, o } = step(
        d,
        o,
        steps.filter((s) => s.kind !== 'wait' && s.kind !== 'recordLastGood'),
        withSnap(n.v1),
      ));
    }
    const order = seen
      .flat()
      .filter((s) => s.kind !== 'wait')
      .map((s) => s.kind);
    expect(order.slice(0, 3)).toEqual(['beginUpdate', 'stop', 'snapshotVolumes']);
    expect(order.indexOf('writeUnit')).toBeGreaterThan(order.indexOf('snapshotVolumes'));
    expect(seen.flat().find((s) => s.kind === 'stop')?.reason).toBe(
      'update: stopped, so that its data is exported at rest before the new version starts',
    );
    expect(seen.flat().find((s) => s.kind === 'snapshotVolumes')).toMatchObject({ volumes: ['a-data'] });
    // New units started (not restarted: they were stopped), then judged healthy.
    expect(order).toContain('start');
    expect(order.at(-1)).toBe('recordLastGood');

    // The same update failing instead: stopped again, the volume restored, then the last good set.
    const failed = {
      ...o,
      units: { ...o.units, 'a-web.service': unit('failed', { result: 'protocol', execMainStartMono: o.nowMono }) },
    };
    let cur = step(d, failed, planSteps(d, failed), withSnap(n.v1));
    const after: Step[] = [];
    for (let i = 0; i < 12 && cur.d.apps[0]!.update?.phase !== 'rolledBack'; i++) {
      const steps = planSteps(cur.d, cur.o);
      after.push(...steps);
      cur = step(
        cur.d,
        cur.o,
        steps.filter((s) => s.kind !== 'wait'),
        withSnap(n.v1),
      );
    }
    expect(cur.d.apps[0]!.update?.phase).toBe('rolledBack');
    const kindsAfter = after.filter((s) => s.kind !== 'wait').map((s) => s.kind);
    expect(kindsAfter).toContain('restoreVolumes');
    const restoreAt = kindsAfter.indexOf('restoreVolumes');
    expect(kindsAfter.slice(0, restoreAt)).toContain('stop');
    expect(kindsAfter.slice(restoreAt)).toContain('start');
    expect(kindsAfter.slice(0, restoreAt)).not.toContain('start');
  });
});

describe('update --check', () => {
  it('lists the image changes, those to pull, and the files; a rolled-back app shows the release held back', () => {
    const { v1, o } = node();
    const withImage = (a: DesiredApp, image: string, pull = 'missing'): DesiredApp => ({
      ...a,
      rendered: {
        ...a.rendered!,
        files: a.rendered!.files.map((f) => ({ ...f, content: `[Container]\nImage=${image}\n` })),
        containers: a.rendered!.containers.map((c) => ({ ...c, image, pull })),
      },
    });
    const old = withImage(v1, 'example.org/app:1');
    const disk = converged([old]);
    const next = { ...withImage(v1, 'example.org/app:2'), lastGoodVersion: '1' };
    const check = updateCheckOf({ ...next, rendered: { ...next.rendered!, version: '2' } }, disk, () => false);
    expect(check).toMatchObject({
      app: 'a',
      state: 'update',
      fromVersion: '1',
      toVersion: '2',
      images: [{ container: 'a-web', from: 'example.org/app:1', to: 'example.org/app:2', pull: true }],
      files: [{ name: 'a-web.container', action: 'update' }],
    });
    expect(updateCheckOf(old, disk, () => true)).toMatchObject({ state: 'current', images: [], files: [] });
    const held: DesiredApp = {
      ...old,
      heldBack: { ...next.rendered!, version: '2' },
      update: {
        phase: 'rolledBack',
        toHash: 'x',
        fromHash: 'y',
        startedAt: 't',
        switchedAtMs: 0,
        reason: 'a-web.service exited',
      },
    };
    expect(updateCheckOf(held, disk, () => true)).toMatchObject({
      state: 'rolled-back',
      toVersion: '2',
      reason: 'a-web.service exited',
      images: [{ to: 'example.org/app:2' }],
    });
    void o;
  });
});

describe('plan-update: dependents of a provider being updated', () => {
  it("hold their starts and restarts until it is healthy again or rolled back; other apps' go on", () => {
    const btc = { iface: 'bitcoind', provider: 'btc', service: 'btc-node.service' };
    const provider = app('btc', 'running', ['node']);
    const lnd = app('lnd', 'running', ['node']);
    lnd.rendered!.containers = lnd.rendered!.containers.map((c) => ({ ...c, waitsFor: [btc] }));
    lnd.rendered!.needs = [{ iface: 'bitcoind', optional: false, provider: 'btc', service: btc.service }];
    const other = app('web', 'running', ['web']);
    const o = converged([provider, lnd, other]);
    o.units['lnd-node.service'] = unit('inactive');
    o.units['web-web.service'] = unit('inactive');
    const updating: DesiredApp = {
      ...provider,
      update: {
        phase: 'switching',
        toHash: filesHash(provider.rendered!.files),
        fromHash: 'x',
        startedAt: 't',
        switchedAtMs: o.nowMs,
      },
    };
    const steps = planSteps({ apps: [updating, lnd, other] }, o);
    expect(steps.filter((s) => s.app === 'lnd')).toEqual([
      { kind: 'wait', app: 'lnd', unit: 'lnd-node.service', reason: 'start held while btc is being updated' },
    ]);
    expect(steps).toContainEqual({
      kind: 'start',
      app: 'web',
      units: ['web-web.service'],
      reason: 'app should be running',
    });
    // Updated: the dependent starts.
    expect(planSteps({ apps: [provider, lnd, other] }, o)).toContainEqual({
      kind: 'start',
      app: 'lnd',
      units: ['lnd-node.service'],
      reason: 'app should be running',
    });
  });
});

describe('plan-update: a dependent updated together with its provider', () => {
  it('is neither restarted nor judged while its provider is being updated; then it is', () => {
    const btc = { iface: 'bitcoind', provider: 'btc', service: 'btc-node.service' };
    const provider = app('btc', 'running', ['node']);
    const v1 = app('lnd', 'running', ['node']);
    v1.rendered!.containers = v1.rendered!.containers.map((c) => ({ ...c, waitsFor: [btc] }));
    v1.rendered!.needs = [{ iface: 'bitcoind', optional: false, provider: 'btc', service: btc.service }];
    const good = filesHash(v1.rendered!.files);
    const files = v1.rendered!.files.map((f) => ({ ...f, content: `${f.content}# v2\n` }));
    const o = converged([provider, { ...v1, rendered: { ...v1.rendered!, files } }]);
    // lnd's new file is on disk; its container still runs the old one, and the deadline is past.
    o.units['lnd-node.service'] = unit('active', { execMainStartMono: 10 * S });
    o.files.lnd!.find((f) => f.name === 'lnd-node.container')!.mtimeMono = 500 * S;
    const switching = (a: DesiredApp, toHash: string, fromHash: string): DesiredApp => ({
      ...a,
      update: { phase: 'switching', toHash, fromHash, startedAt: 't', switchedAtMs: o.nowMs - 600_000 },
    });
    const lnd = switching({ ...v1, rendered: { ...v1.rendered!, files }, lastGoodHash: good }, filesHash(files), good);
    const btcUpdating = switching(provider, filesHash(provider.rendered!.files), 'x');
    const steps = planSteps({ apps: [btcUpdating, lnd] }, o).filter((s) => s.app === 'lnd');
    expect(kinds(steps)).not.toContain('updateRollBack');
    expect(kinds(steps)).not.toContain('restart');
    expect(steps).toContainEqual(
      expect.objectContaining({
        kind: 'wait',
        reason: expect.stringMatching(/^updating: judged once btc is no longer/),
      }),
    );
    // The provider done: the dependent is judged (here: past its deadline, rolled back).
    const after = planSteps({ apps: [provider, lnd] }, o).filter((s) => s.app === 'lnd');
    expect(kinds(after)).toContain('updateRollBack');
  });
});

describe('plan-update: a dependent whose provider has just restarted', () => {
  /** lnd switched to its new units 10 s ago; its container since restarted once by systemd. */
  function lndRestarted(providerStartedSecAgo: number) {
    const btc = { iface: 'bitcoind', provider: 'btc', service: 'btc-node.service' };
    const provider = app('btc', 'running', ['node']);
    const v1 = app('lnd', 'running', ['node']);
    v1.rendered!.containers = v1.rendered!.containers.map((c) => ({ ...c, waitsFor: [btc], startTimeoutSec: 60 }));
    v1.rendered!.needs = [{ iface: 'bitcoind', optional: false, provider: 'btc', service: btc.service }];
    const good = filesHash(v1.rendered!.files);
    const files = v1.rendered!.files.map((f) => ({ ...f, content: `${f.content}# v2\n` }));
    const o = converged([provider, { ...v1, rendered: { ...v1.rendered!, files } }]);
    o.units['lnd-node.service'] = unit('active', {
      execMainStartMono: o.nowMono - 3 * S,
      activeEnterMono: o.nowMono - 1 * S,
      nRestarts: 1,
    });
    o.units['btc-node.service'] = unit('active', { execMainStartMono: o.nowMono - providerStartedSecAgo * S });
    for (const f of o.files.lnd!) f.mtimeMono = o.nowMono - 11 * S;
    const lnd: DesiredApp = {
      ...v1,
      rendered: { ...v1.rendered!, files },
      lastGoodHash: good,
      update: {
        phase: 'switching',
        toHash: filesHash(files),
        fromHash: good,
        startedAt: 't',
        switchedAtMs: o.nowMs - 10_000,
        switchedAtMono: o.nowMono - 10 * S,
        ...(o.bootId ? { bootId: o.bootId } : {}),
      },
    };
    return { d: { apps: [provider, lnd] }, o };
  }

  it('a restart by systemd is not held against it: judged by whether it gets healthy by the deadline', () => {
    // bitcoind restarted 15 s ago (its own update just ended), within lnd's start timeout.
    const { d, o } = lndRestarted(15);
    const steps = planSteps(d, o).filter((s) => s.app === 'lnd');
    expect(kinds(steps)).not.toContain('updateRollBack');
    // Healthy again (active: its health check passes): the new set is recorded.
    expect(kinds(steps)).toContain('recordLastGood');
    // Still starting: it waits, saying why it was not rolled back.
    o.units['lnd-node.service'] = { ...o.units['lnd-node.service']!, activeState: 'activating', subState: 'start' };
    expect(planSteps(d, o).filter((s) => s.app === 'lnd')).toContainEqual(
      expect.objectContaining({
        kind: 'wait',
        reason: expect.stringMatching(/while its provider btc-node.service had just restarted/),
      }),
    );
    // Failed for good (its start limit hit): rolled back at once.
    o.units['lnd-node.service'] = { ...o.units['lnd-node.service']!, activeState: 'failed', result: 'start-limit-hit' };
    expect(kinds(planSteps(d, o).filter((s) => s.app === 'lnd'))).toContain('updateRollBack');
  });

  it('with its provider up and steady for longer than its start timeout: a restart since the switch rolls it back', () => {
    // Also what ends the excuse above: lnd restarting still once bitcoind has been steady that
    // long (a health check that never passes would otherwise keep it updating for ever).
    const { d, o } = lndRestarted(61);
    const steps = planSteps(d, o).filter((s) => s.app === 'lnd');
    expect(steps).toContainEqual(
      expect.objectContaining({
        kind: 'updateRollBack',
        why: 'lnd-node.service failed (success), and was restarted by systemd',
      }),
    );
  });
});

describe('plan-update: what changes under an update', () => {
  const switching = (
    a: DesiredApp,
    toHash: string,
    at: number,
    extra: Partial<NonNullable<DesiredApp['update']>> = {},
  ): DesiredApp => ({
    ...a,
    update: { phase: 'switching', toHash, fromHash: a.lastGoodHash!, startedAt: 't', switchedAtMs: at, ...extra },
  });

  it('the manifest back to the last good set while the new one is watched: put back as a rollback, said so', () => {
    const { v1, next, o } = node();
    expect(planSteps({ apps: [switching(v1, next, o.nowMs)] }, o)[0]).toMatchObject({
      kind: 'updateRollBack',
      why: 'the manifest went back to the last good set',
    });
  });

  it('an unusable manifest mid-update judges nothing: no rollback of a version that may be fine', () => {
    const { v2, next, o } = node();
    const { rendered: _r, ...broken } = switching(v2, next, o.nowMs - 3_600_000);
    expect(kinds(planSteps({ apps: [{ ...broken, error: 'bad yaml' }] }, o))).not.toContain('updateRollBack');
  });

  it('a snapshot that cannot be taken gives the update up after its deadline: the old version runs again', () => {
    const { v2, next, o } = node();
    const snap = (a: DesiredApp): DesiredApp => ({ ...a, rendered: { ...a.rendered!, snapshotVolumes: ['a-data'] } });
    const stopped = { ...o, units: { 'a-web.service': unit('inactive') } };
    expect(kinds(planSteps({ apps: [switching(snap(v2), next, o.nowMs - 10_000)] }, stopped))).toEqual([
      'snapshotVolumes',
    ]);
    expect(planSteps({ apps: [switching(snap(v2), next, o.nowMs - 200_000)] }, stopped)[0]).toMatchObject({
      kind: 'updateRollBack',
      why: 'its volumes could not be snapshotted within 130 s',
    });
  });

  it('a newer manifest while a snapshot is still to be put back: restored first, then the new update begins', () => {
    const { v2, o, good } = node();
    const rolling: DesiredApp = {
      ...v2,
      update: {
        phase: 'rollingBack',
        toHash: 'older',
        fromHash: good,
        startedAt: 't',
        switchedAtMs: o.nowMs,
        snapshot: { volumes: ['a-data'], at: 't' },
      },
    };
    const steps = planSteps({ apps: [rolling] }, o);
    expect(kinds(steps)).toEqual(['stop']);
    const stopped = { ...o, units: { 'a-web.service': unit('inactive') } };
    expect(kinds(planSteps({ apps: [rolling] }, stopped))).toEqual(['restoreVolumes']);
    const restored = { ...rolling, update: { ...rolling.update!, restored: true as const } };
    expect(kinds(planSteps({ apps: [restored] }, o))).toEqual(['beginUpdate']);
  });
});

describe('plan-update: the images built before an app runs settled on its last good set', () => {
  /** `a` with a local build (its image tagged by version and context), on its last good set. */
  function built() {
    const { v1, v2, o } = node();
    const tag = 'localhost/archy/a:1-0123456789ab';
    const withBuild = (x: DesiredApp): DesiredApp => ({
      ...x,
      rendered: {
        ...x.rendered!,
        containers: x.rendered!.containers.map((c) => ({ ...c, image: tag, buildService: 'a-build.service' })),
      },
    });
    return { v1: withBuild(v1), v2: withBuild(v2), tag, o };
  }

  it('go once the set is recorded and the app settled, once per set', () => {
    const { v1, tag, o } = built();
    expect(planSteps({ apps: [v1] }, o)).toEqual([
      {
        kind: 'pruneBuilds',
        app: 'a',
        keep: [tag],
        hash: v1.lastGoodHash,
        reason: 'runs settled on its last good set: the images built for it before go',
      },
    ]);
    expect(planSteps({ apps: [{ ...v1, lastGoodBuildsPruned: true }] }, o)).toEqual([]);
  });

  it('stay while the set is not recorded yet, while it starts, and while an update runs', () => {
    const { v1, v2, o } = built();
    const { lastGoodHash: _h, ...unrecorded } = v1;
    expect(planSteps({ apps: [unrecorded] }, o)).toEqual([]);
    const starting = structuredClone(o);
    starting.units['a-web.service'] = unit('activating');
    expect(kinds(planSteps({ apps: [v1] }, starting))).not.toContain('pruneBuilds');
    expect(kinds(planSteps({ apps: [v2] }, o))).toEqual(['beginUpdate']);
    const switching: DesiredApp = {
      ...v2,
      update: {
        phase: 'switching',
        toHash: filesHash(v2.rendered!.files),
        fromHash: v1.lastGoodHash!,
        startedAt: 'then',
        switchedAtMs: o.nowMs,
      },
    };
    expect(kinds(planSteps({ apps: [switching] }, o))).not.toContain('pruneBuilds');
  });

  it('leave the app running and converged while they wait: housekeeping, not a move', () => {
    const { v1, o } = built();
    expect(kinds(planSteps({ apps: [v1] }, o))).toEqual(['pruneBuilds']);
    expect(computeStatus({ apps: [v1] }, o)).toMatchObject([{ id: 'a', state: 'running', converged: true }]);
  });

  it('an app without a local build has nothing to prune', () => {
    const { v1, o } = node();
    expect(planSteps({ apps: [v1] }, o)).toEqual([]);
  });
});

describe('plan-update: a last good set is judged on a whole plan', () => {
  it('not while another app has an update being recorded (the plan then holds that alone)', () => {
    const { v1, o } = node();
    const { lastGoodHash: _h, ...unrecorded } = v1;
    expect(lastGoodDue({ apps: [unrecorded] }, o, [])).toEqual([{ app: 'a', hash: filesHash(v1.rendered!.files) }]);
    const other: Step = { kind: 'beginUpdate', app: 'b', toHash: 'x', fromHash: 'y', reason: 'update' };
    expect(lastGoodDue({ apps: [unrecorded] }, o, [other])).toEqual([]);
  });
});
