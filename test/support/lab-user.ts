import { execFileSync } from 'node:child_process';
import { chownSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { AS_USER } from './lab.js';

export interface LabUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

export function labUser(): LabUser {
  const name = process.env.ARCHY_LAB_USER ?? 'archy';
  const [, , uid, gid, , home] = execFileSync('getent', ['passwd', name], { encoding: 'utf8' }).trim().split(':');
  return { name, uid: Number(uid), gid: Number(gid), home: home! };
}

/** Runs a command as the lab user, with its session (systemctl --user, podman). */
export async function asUser(args: string[], opts: { reject?: boolean; timeout?: number } = {}) {
  return execa(AS_USER, args, {
    reject: opts.reject ?? true,
    timeout: opts.timeout ?? 60_000,
    cwd: '/',
    stdin: 'ignore',
  });
}

/** mkdir -p, then hand every directory made (and `path` itself) to the lab user. */
export function mkdirOwned(path: string, user: LabUser): void {
  const missing: string[] = [];
  for (let p = path; p !== '/' && !exists(p); p = dirname(p)) missing.push(p);
  mkdirSync(path, { recursive: true });
  for (const p of [...missing, path]) chownSync(p, user.uid, user.gid);
}

/** Hands a whole tree to the lab user. */
export function chownTree(path: string, user: LabUser): void {
  chownSync(path, user.uid, user.gid);
  if (statSync(path).isDirectory()) for (const e of readdirSync(path)) chownTree(join(path, e), user);
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` until it returns a value or the time is up. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
