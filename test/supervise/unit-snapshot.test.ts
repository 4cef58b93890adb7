import { describe, expect, it } from 'vitest';
import {
  nextSnapshot,
  type ReuseInput,
  reusableUnits,
  SNAPSHOT_FORMAT,
  SNAPSHOT_MAX_AGE_SEC,
  sameSnapshot,
  snapshotOf,
  type UnitSnapshot,
} from '../../src/supervise/unit-snapshot.js';
import { parseListUnits, type ListedUnit } from '../../src/supervise/systemctl.js';
import type { DesiredApp, UnitStatus } from '../../src/supervise/types.js';
import { app, S, unit } from './fake-systemd.js';

// Which units a pass may take from the last `show` (list-units says their state is as it was)
// and which it must show again. Every reason to show again is a case here.

const listedOf = (u: UnitStatus): ListedUnit => ({
  loadState: u.loadState,
  activeState: u.activeState,
  subState: u.subState,
  jobQueued: false,
});

/** Two running apps at rest, shown at 200 s; their files and cid files as they were then. */
function input(apps: DesiredApp[] = [app('a', 'running', ['web', 'db']), app('b', 'running', ['web'])]): ReuseInput {
  const units: UnitSnapshot['units'] = {};
  const listed: Record<string, ListedUnit> = {};
  const cidStamps: Record<string, string> = {};
  const fileStamps: Record<string, string> = {};
  for (const a of apps) {
    fileStamps[a.id] = `${a.id} files 1`;
    for (const svc of a.rendered!.services) {
      const network = svc.endsWith('-network.service');
      const u = a.intent === 'stopped' ? unit('inactive') : unit('active', network ? { subState: 'exited' } : {});
      const cid = a.intent === 'running' && !network ? `${svc} cid 1` : undefined;
      units[svc] = { ...u, seenMono: 200 * S, files: fileStamps[a.id]!, ...(cid ? { cid } : {}) };
      listed[svc] = listedOf(u);
      if (cid) cidStamps[svc] = cid;
    }
  }
  return {
    desired: { apps },
    listed,
    snapshot: { format: SNAPSHOT_FORMAT, bootId: 'boot1', loadStamp: 'gen1', units },
    nowMono: 230 * S,
    bootId: 'boot1',
    loadStamp: 'gen1',
    backoff: {},
    fileStamps,
    cidStamps,
  };
}

const reused = (r: ReuseInput) => Object.keys(reusableUnits(r)).sort();
const ALL = ['a-db.service', 'a-network.service', 'a-web.service', 'b-web.service'];

describe('reusableUnits', () => {
  it('reuses every unit of apps at rest, with what the last show said', () => {
    const r = input();
    expect(reused(r)).toEqual(ALL);
    expect(reusableUnits(r)['a-web.service']).toEqual(r.snapshot!.units['a-web.service']);
  });

  it('reuses nothing from another boot, another load of the units, or without a snapshot', () => {
    expect(reused({ ...input(), bootId: 'boot2' })).toEqual([]);
    expect(reused({ ...input(), loadStamp: 'gen2' })).toEqual([]); // a daemon-reload by anyone
    expect(reused({ ...input(), loadStamp: undefined })).toEqual([]);
    expect(reused({ ...input(), snapshot: undefined })).toEqual([]);
  });

  it('shows again a unit whose state or job changed, or that systemd no longer lists', () => {
    const r = input();
    r.listed['a-web.service'] = { ...r.listed['a-web.service']!, activeState: 'activating', subState: 'auto-restart' };
    r.listed['a-db.service'] = { ...r.listed['a-db.service']!, jobQueued: true };
    delete r.listed['b-web.service'];
    expect(reused(r)).toEqual(['a-network.service']);
  });

  it('shows again a unit shown needing a reload, with a job, or a transient one', () => {
    const r = input();
    r.snapshot!.units['a-web.service']!.needDaemonReload = true;
    r.snapshot!.units['a-db.service']!.jobQueued = true;
    r.snapshot!.units['b-web.service']!.hookKey = 'x';
    expect(reused(r)).toEqual(['a-network.service']);
  });

  it('shows again every unit of an app whose files changed since (even a file not its own)', () => {
    const r = input();
    r.fileStamps.a = 'a files 2';
    expect(reused(r)).toEqual(['b-web.service']);
    delete r.fileStamps.b; // its directory gone
    expect(reused(r)).toEqual([]);
  });

  it('shows again a container started since (a new cid file), or whose cid file is gone', () => {
    const r = input();
    r.cidStamps['a-web.service'] = 'a-web.service cid 2'; // crashed and restarted by systemd between passes
    delete r.cidStamps['b-web.service'];
    expect(reused(r)).toEqual(['a-db.service', 'a-network.service']);
  });

  it('reuses an init container at rest with no cid file (Podman removed it with the container)', () => {
    const init = app('a', 'running', ['init', 'web']);
    init.rendered!.containers[0] = { ...init.rendered!.containers[0]!, oneshot: true };
    const r = input([init]);
    r.listed['a-init.service'] = { ...r.listed['a-init.service']!, subState: 'exited' };
    r.snapshot!.units['a-init.service'] = { ...r.snapshot!.units['a-init.service']!, subState: 'exited' };
    delete r.snapshot!.units['a-init.service']!.cid;
    delete r.cidStamps['a-init.service'];
    expect(reused(r)).toEqual(['a-init.service', 'a-network.service', 'a-web.service']);
  });

  it('shows again what was shown too long ago, or in the future of this clock', () => {
    const old = input();
    old.nowMono = 200 * S + (SNAPSHOT_MAX_AGE_SEC + 1) * S;
    expect(reused(old)).toEqual([]);
    const future = input();
    future.nowMono = 150 * S;
    expect(reused(future)).toEqual([]);
  });

  it('shows again the units of an app in backoff, update, adoption or restart, or going away', () => {
    const inBackoff = input();
    inBackoff.backoff['a-web.service'] = { failures: 1 };
    expect(reused(inBackoff)).toEqual(['a-db.service', 'a-network.service', 'b-web.service']);
    const moving: Array<Partial<DesiredApp>> = [
      { update: { phase: 'switching' } as DesiredApp['update'] },
      { adoption: { phase: 'starting' } as DesiredApp['adoption'] },
      { restartRequestedAt: 1 },
      { intent: 'absent' },
    ];
    for (const extra of moving) {
      const r = input([app('a', 'running', ['web', 'db'], extra), app('b', 'running', ['web'])]);
      expect(reused(r)).toEqual(['b-web.service']);
    }
    const rolledBack = input([
      app('a', 'running', ['web'], { update: { phase: 'rolledBack' } as DesiredApp['update'] }),
    ]);
    expect(reused(rolledBack)).toEqual(['a-web.service']);
  });

  it('reuses a stopped app’s inactive units, listed or unloaded, but not a running app’s unlisted one', () => {
    const r = input([app('s', 'stopped', ['web']), app('b', 'running', ['web'])]);
    expect(reused(r)).toEqual(['b-web.service', 's-web.service']);
    delete r.listed['s-web.service'];
    expect(reused(r)).toEqual(['b-web.service', 's-web.service']);
    r.listed['s-web.service'] = listedOf(unit('active'));
    expect(reused(r)).toEqual(['b-web.service']);
    const failed = input([app('s', 'stopped', ['web'])]);
    failed.listed['s-web.service'] = listedOf(unit('failed'));
    expect(reused(failed)).toEqual([]);
  });
});

describe('nextSnapshot', () => {
  const at = (seenMono: number, loadStamp = 'gen1') => ({ bootId: 'boot1', loadStamp, seenMono });
  const stampsOf = (r: ReuseInput) => ({
    appOf: { 'c.service': 'c', 's-web.service': 's' },
    fileStamps: { ...r.fileStamps, c: 'c files 1' },
    cidStamps: { ...r.cidStamps, 'c.service': 'c cid 1' },
  });

  it('takes what was shown now with the stamps read before it, keeps what was reused, drops units systemd does not know', () => {
    const r = input();
    const shown = { 'c.service': unit('active'), 'x.service': unit('inactive', { loadState: 'not-found' }) };
    const next = nextSnapshot(r.snapshot, at(240 * S), reusableUnits(r), shown, stampsOf(r));
    expect(Object.keys(next.units).sort()).toEqual([...ALL, 'c.service']);
    expect(next.units['c.service']).toEqual({
      ...unit('active'),
      seenMono: 240 * S,
      files: 'c files 1',
      cid: 'c cid 1',
    });
    expect(sameSnapshot(r.snapshot, next)).toBe(false);
  });

  it('is the same snapshot when what was shown is as it was not long ago (no write), not when it changed or is old', () => {
    const r = input([app('s', 'stopped', ['web'])]);
    const before = r.snapshot!;
    const again = { 's-web.service': unit('inactive') };
    expect(sameSnapshot(before, nextSnapshot(before, at(210 * S), {}, again, stampsOf(r)))).toBe(true);
    const restarted = { 's-web.service': unit('inactive', { nRestarts: 1 }) };
    expect(sameSnapshot(before, nextSnapshot(before, at(210 * S), {}, restarted, stampsOf(r)))).toBe(false);
    const touched = { ...stampsOf(r), fileStamps: { s: 's files 2' } };
    expect(nextSnapshot(before, at(210 * S), {}, again, touched).units['s-web.service']!.files).toBe('s files 2');
    const late = 200 * S + (SNAPSHOT_MAX_AGE_SEC / 2 + 1) * S;
    expect(nextSnapshot(before, at(late), {}, again, stampsOf(r)).units['s-web.service']!.seenMono).toBe(late);
    expect(sameSnapshot(before, nextSnapshot(before, at(210 * S, 'gen2'), {}, again, stampsOf(r)))).toBe(false);
  });
});

describe('snapshotOf', () => {
  it('reads a snapshot of this format only, and drops entries it cannot trust', () => {
    const good = input().snapshot!;
    expect(snapshotOf(JSON.parse(JSON.stringify(good)))).toEqual(good);
    expect(snapshotOf({ ...good, format: 1 })).toBeUndefined();
    expect(snapshotOf(null)).toBeUndefined();
    const { seenMono: _, ...noTime } = good.units['a-web.service']!;
    const { nRestarts: __, ...noRestarts } = good.units['a-db.service']!;
    const read = snapshotOf({
      ...good,
      units: { ...good.units, 'a-web.service': noTime, 'a-db.service': noRestarts },
    })!;
    expect(Object.keys(read.units).sort()).toEqual(['a-network.service', 'b-web.service']);
  });
});

describe('parseListUnits', () => {
  it('reads list-units JSON: state, and a job when the column has one', () => {
    const text = JSON.stringify([
      { unit: 'a.service', load: 'loaded', active: 'active', sub: 'running', job: '', description: 'A' },
      { unit: 'b.service', load: 'loaded', active: 'deactivating', sub: 'stop', job: 'stop', description: 'B' },
      { unit: 'c.service', load: 'loaded', active: 'active', sub: 'exited', description: 'C' },
    ]);
    expect(parseListUnits(text)).toEqual({
      'a.service': { loadState: 'loaded', activeState: 'active', subState: 'running', jobQueued: false },
      'b.service': { loadState: 'loaded', activeState: 'deactivating', subState: 'stop', jobQueued: true },
      'c.service': { loadState: 'loaded', activeState: 'active', subState: 'exited', jobQueued: false },
    });
    expect(parseListUnits('[]\n')).toEqual({});
  });
});
