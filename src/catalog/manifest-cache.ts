import { createHash } from 'node:crypto';
import type { AppSpec } from '../manifest/app-spec.js';
import type { ManifestError } from '../manifest/types.js';
import type { ManifestResult, ManifestValidator } from '../manifest/validate-manifest.js';
import type { CatalogValidator } from './load-catalog.js';

/**
 * What validating a manifest's text gave, by a key over the text, its file, its expected id and
 * the build of the validator: the result is a pure function of these, so a verb run again on
 * unchanged manifests (`validate`, `render --out`) costs a hash and a lookup per app instead of
 * loading the YAML parser and the schema, parsing and checking. Derived data only: a damaged or
 * missing cache is ignored and rebuilt. What the file system or the other apps decide (build
 * contexts, templates, links) is checked on every run, as before.
 */
export interface ManifestCache {
  version: 1;
  entries: Record<string, ManifestCacheEntry>;
}

export type ManifestCacheEntry = ({ ok: true; app: AppSpec } | { ok: false; errors: ManifestError[] }) & {
  /** When a run last used it (ms): the newest entries are kept. */
  usedAt: number;
};

/** Entries kept across runs: a few catalogs' worth, whichever were used last. */
export const MANIFEST_CACHE_LIMIT = 1000;
const RESTAMP_MS = 24 * 3600 * 1000;

export function manifestKey(build: string, text: string, file: string, expectedId: string | undefined): string {
  return createHash('sha256')
    .update(JSON.stringify([build, file, expectedId ?? null]))
    .update('\0')
    .update(text)
    .digest('hex');
}

export interface CachedValidator extends CatalogValidator {
  validate(text: string, file: string, expectedId?: string): Promise<ManifestResult>;
  /** The cache to write back, or undefined when this run added nothing and used nothing new. */
  toWrite(): ManifestCache | undefined;
  /** Hits and misses so far (for the benchmark and the tests). */
  counts(): { hits: number; misses: number };
}

/**
 * A validator that answers from the cache, and loads the real one (`load`) on the first miss
 * only. A hit has no `at`: load-catalog places its own errors by parsing then (see locateIn).
 * Pure but for `load`; `now` stamps the entries used.
 */
export function cachedValidator(o: {
  build: string;
  prior: ManifestCache;
  load: () => Promise<ManifestValidator>;
  now: number;
}): CachedValidator {
  const entries = new Map(Object.entries(o.prior.entries));
  const used = new Set<string>();
  let added = 0;
  let hits = 0;
  let real: Promise<ManifestValidator> | undefined;
  return {
    async validate(text, file, expectedId) {
      const key = manifestKey(o.build, text, file, expectedId);
      used.add(key);
      const hit = entries.get(key);
      if (hit) {
        hits++;
        return hit.ok ? { ok: true, app: hit.app } : { ok: false, errors: hit.errors };
      }
      real ??= o.load();
      const result = (await real).validate(text, file, expectedId);
      // AppSpec is plain data (see app-spec.ts): it reads back from JSON as it was written.
      const entry: ManifestCacheEntry = result.ok
        ? { ok: true, app: result.app, usedAt: o.now }
        : { ok: false, errors: result.errors, usedAt: o.now };
      entries.set(key, entry);
      added++;
      return result;
    },
    toWrite() {
      // A run that only hit fresh entries writes nothing; a day-old stamp is renewed.
      const stale = [...used].some((k) => entries.get(k)!.usedAt < o.now - RESTAMP_MS);
      if (added === 0 && !stale) return undefined;
      for (const k of used) entries.set(k, { ...entries.get(k)!, usedAt: o.now });
      const kept = [...entries].sort(([, a], [, b]) => b.usedAt - a.usedAt).slice(0, MANIFEST_CACHE_LIMIT);
      return { version: 1, entries: Object.fromEntries(kept) };
    },
    counts: () => ({ hits, misses: added }),
  };
}
