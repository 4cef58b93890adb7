import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { parseShow, parseShowBlocks } from '../../src/supervise/systemctl.js';

// Output captured from the lab's real `systemctl --user show` (systemd 257), one file per
// situation; show-multi.txt asks for an active, a not-found, a failed and an inactive unit at once.
const fixture = (name: string) => readFileSync(new URL(`../fixtures/systemctl/${name}.txt`, import.meta.url), 'utf8');

describe('parseShow on real output', () => {
  it('reads every unit of a multi-unit answer, by Id, whatever the property order', () => {
    const units = parseShow(fixture('show-multi'));
    expect(Object.keys(units)).toEqual([
      'sfacts-d.service',
      'sfacts-nonexistent.service',
      'sfacts-f.service',
      'sfacts-a.service',
    ]);
    expect(units['sfacts-d.service']).toMatchObject({
      loadState: 'loaded',
      activeState: 'active',
      subState: 'running',
      result: 'success',
      needDaemonReload: false,
    });
    expect(units['sfacts-d.service']!.execMainStartMono).toBe(5367940000);
    expect(units['sfacts-nonexistent.service']).toMatchObject({
      loadState: 'not-found',
      activeState: 'inactive',
      execMainStartMono: 0,
    });
    expect(units['sfacts-f.service']).toMatchObject({ activeState: 'failed', result: 'exit-code', execMainStatus: 3 });
    expect(units['sfacts-a.service']).toMatchObject({ activeState: 'inactive', subState: 'dead' });
  });

  it('sees that a loaded unit needs a daemon-reload', () => {
    expect(Object.values(parseShow(fixture('show-needreload')))[0]).toMatchObject({
      needDaemonReload: true,
      activeState: 'active',
    });
  });

  it('agrees with the single-unit answers', () => {
    for (const name of ['show-active', 'show-failed', 'show-inactive', 'show-notfound']) {
      const [unit] = Object.values(parseShow(fixture(name)));
      expect(unit, name).toBeDefined();
    }
    expect(Object.values(parseShow(fixture('show-failed')))[0]).toMatchObject({
      activeState: 'failed',
      result: 'exit-code',
    });
  });
});

describe('parseShowBlocks on real output', () => {
  it('gives every property of every unit, by Id, as systemd wrote it (what doctor reads)', () => {
    const blocks = parseShowBlocks(fixture('show-multi'));
    const ids = ['sfacts-d.service', 'sfacts-nonexistent.service', 'sfacts-f.service', 'sfacts-a.service'];
    expect(Object.keys(blocks)).toEqual(ids);
    expect(blocks['sfacts-d.service']).toMatchObject({ ActiveState: 'active', UnitFileState: 'generated' });
    expect(blocks['sfacts-d.service']!.ExecMainStartTimestamp).toBe('Mon 2026-11-23 11:24:37 UTC');
    // An empty value is a value: systemd knows no such unit, so no unit file state.
    expect(blocks['sfacts-nonexistent.service']).toMatchObject({ LoadState: 'not-found', UnitFileState: '' });
  });

  it('keeps a value\'s own "=" and drops a block without an Id', () => {
    const blocks = parseShowBlocks('Id=a.service\nEnvironment=A=1 B=2\n\nActiveState=active\n');
    expect(blocks).toEqual({ 'a.service': { Id: 'a.service', Environment: 'A=1 B=2' } });
  });
});

describe('transient units of ours: the key at the end of the description', () => {
  const show = (description: string) =>
    parseShow(
      `Id=archy-quadlet-x.service\nLoadState=loaded\nActiveState=active\nSubState=running\nDescription=${description}\n`,
    )['archy-quadlet-x.service'];

  it('reads the image a pull unit pulls, and the occasion a hook runs for, and nothing from another unit', async () => {
    const { PULL_DESCRIPTION_PREFIX, HOOK_DESCRIPTION_PREFIX } = await import('../../src/supervise/systemctl.js');
    // As the pullImage and runHook executors write them (apply-steps.ts).
    expect(show(`${PULL_DESCRIPTION_PREFIX} of web [docker.io/library/web:2]`)?.hookKey).toBe(
      'docker.io/library/web:2',
    );
    expect(show(`${HOOK_DESCRIPTION_PREFIX} postInstall of web [install T1]`)?.hookKey).toBe('install T1');
    expect(show('Some service [not ours]')?.hookKey).toBeUndefined();
  });
});
