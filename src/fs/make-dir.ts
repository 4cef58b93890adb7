import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * `mkdir -p`, one missing directory at a time. Node 20's `mkdir({ recursive: true })` spins
 * forever on some paths (under /proc, for one): `render --out /proc/x` hung at full CPU.
 */
export async function makeDir(path: string, mode = 0o777): Promise<void> {
  const missing: string[] = [];
  for (let p = resolve(path); ; ) {
    const s = await stat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
      return undefined;
    });
    if (s) {
      if (!s.isDirectory())
        throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR' });
      break;
    }
    missing.push(p);
    if (dirname(p) === p) break;
    p = dirname(p);
  }
  for (const dir of missing.reverse()) {
    await mkdir(dir, { mode }).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
}
