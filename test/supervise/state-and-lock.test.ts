import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import {
  beginReloadLog,
  markReloadPending,
  readReloadLog,
  readState,
  recordReloadMark,
  writeState,
  updateState,
  StateError,
} from '../../src/supervise/state-store.js';
import { acquireLock, LockTimeoutError } from '../../src/supervise/lock.js';
import { generateSecret } from '../../src/supervise/generate-secret.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'aq-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('state store', () => {
  it('starts empty, writes atomically with 0600, keeps a copy of what it last wrote', async () => {
    expect(await readState(dir)).toEqual({ version: 1, apps: {} });
    await writeState(dir, { version: 1, apps: { web: { intent: 'running', installedAt: 't' } } });
    await updateState(dir, (s) => (s.apps.web!.intent = 'stopped'));
    expect((await readState(dir)).apps.web!.intent).toBe('stopped');
    expect(readFileSync(join(dir, 'state.json.bak'), 'utf8')).toBe(readFileSync(join(dir, 'state.json'), 'utf8'));
    expect(statSync(join(dir, 'state.json.bak')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'state.json')).mode & 0o777).toBe(0o600);
  });

  it.each([
    ['{"version": 1, "apps": {"web": {"intent": "running"', 'not JSON'],
    ['{"version": 2, "apps": {}}', 'unknown version 2'],
    ['[]', 'not an object'],
    ['{"version": 1, "apps": {"../etc": {"intent": "running"}}}', '"../etc" is not an app id'],
    ['{"version": 1, "apps": {"web": {"intent": "dancing"}}}', 'app "web" has no valid intent'],
  ])('refuses to act on garbage (%s) and says how to recover', async (text, why) => {
    writeFileSync(join(dir, 'state.json'), text);
    const err = await readState(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StateError);
    expect((err as Error).message).toContain(why);
    expect((err as Error).message).toContain(`cp ${join(dir, 'state.json')}.bak ${join(dir, 'state.json')}`);
    expect(readFileSync(join(dir, 'state.json'), 'utf8')).toBe(text); // nothing lost
  });
});

describe('reload log', () => {
  it("is this boot's: complete from the first pass that began it, its 16 newest marks kept", async () => {
    expect(await readReloadLog(dir, 'boot-a')).toBeUndefined();
    await beginReloadLog(dir, 1000, 'boot-a');
    await beginReloadLog(dir, 2000, 'boot-a'); // begun already: kept as it was
    expect(await readReloadLog(dir, 'boot-a')).toEqual({ completeFrom: 1000, marks: [] });
    for (let i = 1; i <= 18; i++) await recordReloadMark(dir, 1000 + i * 10, 'boot-a');
    const log = (await readReloadLog(dir, 'boot-a'))!;
    expect(log.marks).toHaveLength(16);
    expect(log.marks[0]).toBe(1030);
    // Complete only from the newest mark dropped: a file written before it may have been loaded by it.
    expect(log.completeFrom).toBe(1020);
    expect(statSync(join(dir, 'reloads.json')).mode & 0o777).toBe(0o600);
    // Another boot's monotonic clock: of no use; a new boot begins a new log.
    expect(await readReloadLog(dir, 'boot-b')).toBeUndefined();
    await beginReloadLog(dir, 5, 'boot-b');
    expect(await readReloadLog(dir, 'boot-b')).toEqual({ completeFrom: 5, marks: [] });
    // A pass killed between asking for a reload and marking it done: the next pass marks it
    // when it begins, the latest the reload can have completed.
    await markReloadPending(dir, 10, 'boot-b');
    await markReloadPending(dir, 20, 'boot-b'); // the earliest is kept
    expect(await readReloadLog(dir, 'boot-b')).toEqual({ completeFrom: 5, marks: [], pendingFrom: 10 });
    await beginReloadLog(dir, 50, 'boot-b');
    expect(await readReloadLog(dir, 'boot-b')).toEqual({ completeFrom: 5, marks: [50] });
    await markReloadPending(dir, 60, 'boot-b');
    await recordReloadMark(dir, 61, 'boot-b');
    expect(await readReloadLog(dir, 'boot-b')).toEqual({ completeFrom: 5, marks: [50, 61] });
    // No boot id to tell boots apart: no log (a last boot's would pass for this one's).
    await beginReloadLog(dir, 70, undefined);
    await recordReloadMark(dir, 71, undefined);
    expect(await readReloadLog(dir, undefined)).toBeUndefined();
    expect(await readReloadLog(dir, 'boot-b')).toEqual({ completeFrom: 5, marks: [50, 61] });
    writeFileSync(join(dir, 'reloads.json'), '{"version": 1, "bootId": "boot-b", "marks": [');
    expect(await readReloadLog(dir, 'boot-b')).toBeUndefined();
  });
});

describe('pass lock', () => {
  it('lets one holder in at a time; the other waits, then gets it', async () => {
    const path = join(dir, 'lock');
    const first = await acquireLock(path, 1000);
    await expect(acquireLock(path, 300)).rejects.toBeInstanceOf(LockTimeoutError);
    const waiting = acquireLock(path, 5000);
    setTimeout(() => void first.release(), 200);
    const second = await waiting;
    await second.release();
  });

  it('takes over the lock of a holder that died (kill -9)', async () => {
    const path = join(dir, 'lock');
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    const stat = readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    writeFileSync(path, `${child.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`);
    await expect(acquireLock(path, 200)).rejects.toBeInstanceOf(LockTimeoutError); // alive: respected
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const lock = await acquireLock(path, 1000);
    expect(readFileSync(path, 'utf8').split(' ')[0]).toBe(String(process.pid));
    await lock.release();
  });

  it('takes over an empty lock file once it is a few seconds old (a holder killed between create and write)', async () => {
    const path = join(dir, 'lock');
    writeFileSync(path, '');
    await expect(acquireLock(path, 200)).rejects.toBeInstanceOf(LockTimeoutError); // may be being written
    const old = (Date.now() - 10_000) / 1000;
    utimesSync(path, old, old);
    const lock = await acquireLock(path, 1000);
    expect(readFileSync(path, 'utf8')).toMatch(new RegExp(`^${process.pid} \\d+\n$`));
    await lock.release();
    expect(readdirSync(dir)).toEqual([]); // nothing left aside
  });

  it("several processes racing for a dead holder's lock: still one holder at a time", async () => {
    const path = join(dir, 'lock');
    const log = join(dir, 'log');
    writeFileSync(path, '999999999 1\n'); // no such process: stale
    const lockModule = new URL('../../dist/supervise/lock.js', import.meta.url).href;
    const script = `
      const { acquireLock } = await import(${JSON.stringify(lockModule)});
      const { appendFileSync } = await import('node:fs');
      for (let i = 0; i < 3; i++) {
        const lock = await acquireLock(${JSON.stringify(path)}, 30000);
        appendFileSync(${JSON.stringify(log)}, 'in ' + process.pid + '\\n');
        await new Promise((r) => setTimeout(r, 15));
        appendFileSync(${JSON.stringify(log)}, 'out ' + process.pid + '\\n');
        if (i === 2) process.exit(0); // dies holding the lock, as after kill -9: the others take it over
        await lock.release();
      }`;
    const children = Array.from({ length: 10 }, () =>
      spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'inherit' }),
    );
    const codes = await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
    expect(codes).toEqual(Array(10).fill(0));
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(60);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]).toMatch(/^in \d+$/);
      expect(lines[i + 1]).toBe(lines[i]!.replace('in', 'out'));
    }
  }, 60_000);
});

describe('generateSecret', () => {
  it('draws the asked length from the asked alphabet, differently each time', () => {
    expect(generateSecret(64, 'hex')).toMatch(/^[0-9a-f]{64}$/);
    expect(generateSecret(40, 'base64url')).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(generateSecret(32, 'alphanumeric')).not.toBe(generateSecret(32, 'alphanumeric'));
  });
});
