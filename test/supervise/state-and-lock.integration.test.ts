import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { readState, writeState, updateState, StateError } from '../../src/supervise/state-store.js';
import { acquireLock, LockTimeoutError } from '../../src/supervise/lock.js';
import { generateSecret } from '../../src/supervise/generate-secret.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'aq-state-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('state store', () => {
  it('starts empty, writes atomically with 0600, keeps the previous good copy', async () => {
    expect(await readState(dir)).toEqual({ version: 1, apps: {} });
    await writeState(dir, { version: 1, apps: { web: { intent: 'running', installedAt: 't' } } });
    await updateState(dir, (s) => (s.apps.web!.intent = 'stopped'));
    expect((await readState(dir)).apps.web!.intent).toBe('stopped');
    expect(JSON.parse(readFileSync(join(dir, 'state.json.bak'), 'utf8')).apps.web.intent).toBe('running');
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
});

describe('generateSecret', () => {
  it('draws the asked length from the asked alphabet, differently each time', () => {
    expect(generateSecret(64, 'hex')).toMatch(/^[0-9a-f]{64}$/);
    expect(generateSecret(40, 'base64url')).toMatch(/^[A-Za-z0-9_-]{40}$/);
    expect(generateSecret(32, 'alphanumeric')).not.toBe(generateSecret(32, 'alphanumeric'));
  });
});
