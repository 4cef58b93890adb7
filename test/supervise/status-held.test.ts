import { describe, expect, it } from 'vitest';
import { computeStatus } from '../../src/supervise/status.js';
import type { Desired, Observed } from '../../src/supervise/types.js';
import { app, container, converged, unit } from './fake-systemd.js';

// status says why an app is held: the planner's held waits (nothing changes until a person
// acts), and the state `held` when the app should run and no pass will start it.

const viewOf = (d: Desired, o: Observed, id: string) => computeStatus(d, o).find((v) => v.id === id)!;

/** b (db, api) with someone else's b-api.container where ours should be. */
function foreignFile(intent: 'running' | 'stopped' = 'running') {
  const d: Desired = { apps: [app('b', intent, ['db', 'api'])] };
  const o = converged(d.apps, 'inactive');
  o.files.b = o.files.b!.map((f) =>
    f.name === 'b-api.container' ? { ...f, content: 'theirs', owned: false, intact: false } : f,
  );
  return { d, o };
}

const FOREIGN =
  'b/b-api.container in the unit directory was not written by archy-quadlet: move it away (the app is held)';

/** a (web) whose container binds a file that is not there. */
function missingBind(state = 'inactive') {
  const web = container('a-web', { bindFiles: ['/srv/a/app.conf'] });
  const a = app('a', 'running', ['web']);
  a.rendered!.containers = [web];
  const d: Desired = { apps: [a] };
  const o = converged(d.apps, state);
  o.missingFiles = ['/srv/a/app.conf'];
  return { d, o };
}

describe('status: held apps', () => {
  it('a converged node holds nothing', () => {
    const d: Desired = { apps: [app('a', 'running', ['web'])] };
    const v = viewOf(d, converged(d.apps), 'a');
    expect(v.state).toBe('running');
    expect(v.held).toBeUndefined();
  });

  it('a unit file archy-quadlet did not write: held, naming the file', () => {
    const { d, o } = foreignFile();
    const v = viewOf(d, o, 'b');
    expect(v).toMatchObject({ state: 'held', desired: 'running', converged: false, held: [FOREIGN] });
  });

  it('a missing file bind source: held, naming the path; a failed unit too', () => {
    const { d, o } = missingBind();
    const v = viewOf(d, o, 'a');
    expect(v.state).toBe('held');
    expect(v.held).toEqual([
      'bind source /srv/a/app.conf is missing (a file: archy-quadlet never creates it): put it there',
    ]);
    const failed = missingBind('failed');
    const f = viewOf(failed.d, failed.o, 'a');
    expect(f.state).toBe('held');
    expect(f.lastFailure).toMatch(/a-web.service: exit-code/);
  });

  it('new units Quadlet rejects while the app runs on its last good units: the reason, the state stays running', () => {
    const d: Desired = { apps: [app('a', 'running', ['web'])] };
    const o = converged(d.apps);
    o.rejectedRenders = { a: "unsupported key 'Foo' in group 'Container'" };
    const v = viewOf(d, o, 'a');
    expect(v.state).toBe('running');
    expect(v.held).toEqual([
      "Quadlet rejects the new units (its last good units stay): unsupported key 'Foo' in group 'Container'",
    ]);
  });

  it('held reasons of an app the pass starts anyway do not make it held', () => {
    // Rejected new units: its last good units are still started.
    const d: Desired = { apps: [app('a', 'running', ['web'])] };
    const o = converged(d.apps, 'inactive');
    o.rejectedRenders = { a: 'bad' };
    const v = viewOf(d, o, 'a');
    expect(v.state).toBe('stopped');
    expect(v.held).toHaveLength(1);
  });

  it('an app that should be stopped keeps its state, with the reasons', () => {
    const { d, o } = foreignFile('stopped');
    const v = viewOf(d, o, 'b');
    expect(v.state).toBe('stopped');
    expect(v.converged).toBe(true);
    expect(v.held).toEqual([FOREIGN]);
  });

  it('waiting for a provider is not held', () => {
    const provider = app('p', 'running', ['srv']);
    const dep = app('c', 'running', ['web']);
    dep.rendered!.needs = [{ iface: 'rpc', optional: false, provider: 'p', service: 'p-srv.service' }];
    dep.rendered!.containers = [
      container('c-web', { waitsFor: [{ iface: 'rpc', provider: 'p', service: 'p-srv.service' }] }),
    ];
    const d: Desired = { apps: [provider, dep] };
    const o = converged(d.apps, 'inactive');
    o.units['p-srv.service'] = unit('failed');
    const v = viewOf(d, o, 'c');
    expect(v.state).toBe('waiting');
    expect(v.held).toBeUndefined();
  });

  it('still known while the pass writes files of another app (each app is then planned alone)', () => {
    const { d, o } = foreignFile();
    const other = app('a', 'running', ['web']);
    const both: Desired = { apps: [...d.apps, other] };
    const o2: Observed = { ...o, units: { ...o.units, 'a-web.service': unit('inactive') } }; // a's file missing
    const views = computeStatus(both, o2);
    expect(views.find((v) => v.id === 'b')).toMatchObject({ state: 'held', held: [FOREIGN] });
    expect(views.find((v) => v.id === 'a')!.held).toBeUndefined();
  });

  it('not known yet for an app whose own files are about to be written: the next pass plans it on them', () => {
    const { d, o } = missingBind();
    o.files.a = []; // its file missing: written first
    const v = viewOf(d, o, 'a');
    expect(v.held).toBeUndefined();
    expect(v.state).toBe('stopped');
  });

  it('one app asked about with the whole node observed (explain): other apps are not orphans', () => {
    const { d, o } = foreignFile();
    const other = app('a', 'running', ['web']);
    const o2: Observed = {
      ...o,
      files: { ...o.files, ...converged([other]).files },
      units: { ...o.units, 'a-web.service': unit('inactive') },
    };
    const [v] = computeStatus({ apps: d.apps }, o2);
    expect(v).toMatchObject({ id: 'b', state: 'held', held: [FOREIGN] });
  });
});

describe('status of an app asked to stop', () => {
  it('is stopping while some of its containers are still up, stopped once none is', () => {
    const d: Desired = { apps: [app('s', 'stopped', ['db', 'api'])] };
    const o = converged(d.apps);
    o.units['s-db.service'] = unit('active');
    o.units['s-api.service'] = unit('active');
    expect(viewOf(d, o, 's').state).toBe('stopping');
    // The dependent stopped first, its provider still up: not "partial".
    o.units['s-api.service'] = unit('inactive');
    expect(viewOf(d, o, 's').state).toBe('stopping');
    o.units['s-db.service'] = unit('inactive');
    expect(viewOf(d, o, 's')).toMatchObject({ state: 'stopped', converged: true });
  });
});
