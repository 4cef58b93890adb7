import { open, readFile, stat, unlink } from 'node:fs/promises';
import { readFileSync } from 'node:fs';

/**
 * One reconcile pass at a time on a node: the timer, the watcher and the CLI share this
 * lock file (in $XDG_RUNTIME_DIR, so a reboot clears it). A holder that died (kill -9) is
 * recognised by its pid and process start time, and its lock is taken over.
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
  let fh;
  try {
    fh = await open(breaker, 'wx', 0o600);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Breakers hold it for microseconds: one older than a few seconds was left by a breaker
    // that died in between, and is removed.
    const age = await stat(breaker).then((s) => Date.now() - s.mtimeMs, () => 0);
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

export async function acquireLock(path: string, waitMs: number, onWait?: (holder: string) => void): Promise<PassLock> {
  const me = `${process.pid} ${processStart(process.pid) ?? '0'}`;
  const deadline = Date.now() + waitMs;
  let told = false;
  for (;;) {
    try {
      const fh = await open(path, 'wx', 0o600);
      await fh.writeFile(`${me}\n`);
      await fh.close();
      return {
        async release() {
          const content = await readFile(path, 'utf8').catch(() => '');
          if (content.trim() === me) await unlink(path).catch(() => undefined);
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = await readFile(path, 'utf8').catch(() => '');
    if (holder !== '' && !holderAlive(holder)) {
      await breakStaleLock(path, holder);
      continue;
    }
    if (Date.now() >= deadline) throw new LockTimeoutError(`another archy-quadlet pass is running (pid ${holder.split(' ')[0] || '?'}); try again`);
    if (!told && onWait) {
      onWait(holder.split(' ')[0] ?? '?');
      told = true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
