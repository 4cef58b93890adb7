import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeDir } from '../fs/make-dir.js';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import { buildId } from '../supervise/render-cache.js';
import { cachedValidator, type CachedValidator, type ManifestCache } from './manifest-cache.js';

// The manifest cache on disk: $XDG_CACHE_HOME/archy-quadlet/manifests.json (derived data, the
// user's own; safe to delete at any time).

const FILE = 'manifests.json';

export function manifestCacheDir(env: Record<string, string | undefined>, home: string): string {
  const base = env.XDG_CACHE_HOME?.startsWith('/') ? env.XDG_CACHE_HOME : join(home, '.cache');
  return join(base, 'archy-quadlet');
}

export async function readManifestCache(dir: string): Promise<ManifestCache> {
  try {
    const doc = JSON.parse(await readFile(join(dir, FILE), 'utf8')) as ManifestCache;
    if (doc.version === 1 && doc.entries && typeof doc.entries === 'object') return doc;
  } catch {
    // missing or damaged: start afresh
  }
  return { version: 1, entries: {} };
}

/** Best effort: a cache that cannot be written (read-only home, full disk) costs speed, never the verb. */
export async function writeManifestCache(dir: string, cache: ManifestCache | undefined): Promise<void> {
  if (!cache) return;
  try {
    // Not Node's recursive mkdir: it retries for ever where creating answers ENOENT (under /proc).
    await makeDir(dir, 0o700);
    await writeFileAtomic(join(dir, FILE), JSON.stringify(cache), 0o600);
  } catch {
    // see above
  }
}

/**
 * The validator of a verb that reads a catalog (`validate`, `render --out`): answered from the
 * cache where it can, the real validator loaded on the first miss; `save` writes back what
 * changed.
 */
export async function openManifestCache(
  env: Record<string, string | undefined>,
  home: string,
): Promise<{ validator: CachedValidator; save(): Promise<void> }> {
  const dir = manifestCacheDir(env, home);
  const build = buildId();
  // Run from the sources (tests, development) the build differs per process: nothing to reuse.
  const fromSource = build.startsWith('dev-');
  const validator = cachedValidator({
    build,
    prior: fromSource ? { version: 1, entries: {} } : await readManifestCache(dir),
    load: async () => (await import('../manifest/validate-manifest.js')).createManifestValidator(),
    now: Date.now(),
  });
  return { validator, save: async () => (fromSource ? undefined : writeManifestCache(dir, validator.toWrite())) };
}
