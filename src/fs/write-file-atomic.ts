import { open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';

/** Temporary files start with this: readers of a unit directory skip them. */
export const TMP_PREFIX = '.archy-quadlet-tmp-';

/** Writes temp file + fsync + rename: a reader sees the old content or the new, never half. */
export async function writeFileAtomic(path: string, content: string, mode = 0o644): Promise<void> {
  const slash = path.lastIndexOf('/');
  const tmp = `${path.slice(0, slash + 1)}${TMP_PREFIX}${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', mode);
    try {
      await fh.writeFile(content, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Makes renames and removals in a directory durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
