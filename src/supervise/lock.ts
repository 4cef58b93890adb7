import { type FileHandle, link, open, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';
import { makeDir } from '../fs/make-dir.js';

/**
 * One reconcile pass at a time on a node: the timer, the watcher and the CLI share this
 * lock file (in $XDG_RUNTIME_DIR, so a reboot clears it). A holder that died (kill -9) is
 * recognised by its pid and process start time, and its lock is taken over. The lock file
 * appears with its content (written aside, then hard-linked into place): a holder killed
 * between creating it and writing it would otherwise leave an empty lock nobody could judge.
 */
export interface PassLock {
  release(): Promise<void>;
}

export class LockTimeoutError extends Error {}

function processStart(pid: number): string | undefined {
  try {
    // Field 22 of /proc/<pid>/stat (after the command in parentheses): start time in ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function holderAlive(content: string): boolean {
  const [pid, start] = content.trim().split(' ');
  const n = Number(pid);
  if (!Number.isInteger(n) || n <= 0) return false;
  return processStart(n) === start;
}

/**
 * Removes a dead holder's lock. Breakers take turns through a second lock file, and each
 * re-reads the lock under it: without that, two processes that both saw the dead holder
 * could race, and the slower one would remove the lock the faster one had just taken.
 */
async function breakStaleLock(path: string, staleContent: string): Promise<void> {
  const breaker = `${path}.break`;
  let fh: FileHandle;
  try {
    fh = await open(breaker, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Breakers hold it for microseconds: one older than a few seconds was left by a breaker
    // that died in between, and is removed.
    const age = await stat(breaker).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > 5000) await unlink(breaker).catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
    return;
  }
  try {
    await fh.close();
    const now = await readFile(path, 'utf8').catch(() => '');
    if (now === staleContent) await unlink(path).catch(() => undefined);
  } finally {
    await unlink(breaker).catch(() => undefined);
  }
}

/** Creates `path` holding `content`, atomically; false when it exists already. */
async function createWith(path: string, content: string): Promise<boolean> {
  // Killed before the unlink below, the aside file stays in $XDG_RUNTIME_DIR until a reboot.
  // Its own name per attempt: callers in one process (the library's users) must not share it.
  const aside = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.new`;
  await writeFile(aside, content, { mode: 0o600 });
  try {
    await link(aside, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(aside).catch(() => undefined);
  }
}

/**
 * Takes the lock if it is free (or its holder is dead); undefined when a live process holds
 * it. Never waits.
 */
export async function tryLock(path: string): Promise<PassLock | undefined> {
  // Without $XDG_RUNTIME_DIR the locks live in the state directory, which a first install creates.
  await makeDir(dirname(path), 0o700);
  const me = `${process.pid} ${processStart(process.pid) ?? '0'}`;
  for (let attempt = 0; attempt < 50; attempt++) {
    if (await createWith(path, `${me}\n`)) {
      return {
        async release() {
          const content = await readFile(path, 'utf8').catch(() => '');
          if (content.trim() === me) await unlink(path).catch(() => undefined);
        },
      };
    }
    const holder = await readFile(path, 'utf8').catch(() => '');
    // Empty: left by an older version killed between create and write (after a few seconds),
    // or a lock just released and not yet re-read.
    const emptyAndOld =
      holder === '' &&
      (await stat(path).then(
        (s) => Date.now() - s.mtimeMs > 5000,
        () => false,
      ));
    if ((holder !== '' && !holderAlive(holder)) || emptyAndOld) {
      await breakStaleLock(path, holder);
      continue;
    }
    if (holder === '') continue; // released between our attempt and our read: try again
    return undefined;
  }
  return undefined;
}

/** The pid a lock file names, for messages ('?' when it cannot be read). */
export async function lockHolder(path: string): Promise<string> {
  return (await readFile(path, 'utf8').catch(() => '')).split(' ')[0]?.trim() || '?';
}

/**
 * Waits for the lock: for locks held for moments only (the state file's read-change-write).
 * A reconcile pass is not waited for this way: see requestPass, which coalesces.
 */
export async function acquireLock(path: string, waitMs: number): Promise<PassLock> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const lock = await tryLock(path);
    if (lock) return lock;
    if (Date.now() >= deadline)
      throw new LockTimeoutError(
        `${path} is held by pid ${await lockHolder(path)} for longer than ${Math.round(waitMs / 1000)} s`,
      );
    await new Promise((r) => setTimeout(r, 10 + Math.random() * 20));
  }
}
