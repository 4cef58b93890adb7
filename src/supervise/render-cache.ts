import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { DesiredApp } from './types.js';
import type { AppInterfaces, RenderLinks } from '../graph/app-graph.js';

/**
 * What a valid manifest rendered to, by a key over everything the rendering depends on:
 * the manifest's text, the build of the renderer, and the render options. A no-op pass then
 * costs a read and a hash per app instead of YAML, schema and rendering. Derived data only:
 * a damaged or missing cache is ignored and rebuilt.
 */
export interface RenderCache {
  version: 1;
  entries: Record<
    string,
    {
      /** Over the manifest and the options: while it holds, `interfaces` is the app's. */
      baseKey: string;
      /** baseKey and the app's links (providers, their secrets' ids, node facts): while it holds, `rendered` is. */
      key: string;
      interfaces: AppInterfaces;
      /** Paths of its templates in the app's folder: their texts are part of baseKey. */
      templates?: string[];
      /** Its local builds' contexts in the app's folder: their stamps are part of baseKey (a changed page is a new image). */
      builds?: string[];
      rendered: NonNullable<DesiredApp['rendered']>;
      /**
       * While the app has no last good set: what it rendered to before its manifest (a
       * template, a build context) last changed, newest first, at most EARLIER_KEPT. One of
       * them is what its files on disk came from until a pass writes the new ones (see
       * DesiredApp.earlierRenderings). Kept here, not derived: losing it only loses the gate
       * of an update in the seconds after an install.
       */
      earlier?: Array<NonNullable<DesiredApp['rendered']>>;
    }
  >;
}

const FILE = 'render-cache.json';

/** Earlier renderings kept per app with no last good set (edits in quick succession). */
export const EARLIER_KEPT = 5;

/** Identifies this build of the renderer (written by the build next to the code). */
export function buildId(): string {
  try {
    return readFileSync(fileURLToPath(new URL('../build-id.txt', import.meta.url)), 'utf8').trim();
  } catch {
    return `dev-${process.pid}-${Date.now()}`; // running from source: never reuse a cache
  }
}

export function cacheKey(parts: {
  build: string;
  manifest: string;
  appsDir: string;
  dataDir: string;
  startAtBoot: boolean;
  /** Texts of the app's templates by path (a changed template renders anew). */
  templates?: Record<string, string | null>;
  /** Stamps of the app's build contexts by path. */
  builds?: Record<string, string>;
}): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        parts.build,
        parts.appsDir,
        parts.dataDir,
        parts.startAtBoot,
        parts.manifest,
        ...(parts.templates ? [parts.templates] : []),
        ...(parts.builds ? [parts.builds] : []),
      ]),
    )
    .digest('hex');
}

/** The key of an app's rendering: its base key and what it is linked to on the node. */
export function linkedKey(baseKey: string, links: RenderLinks): string {
  return createHash('sha256').update(baseKey).update(JSON.stringify(links)).digest('hex');
}

export async function readRenderCache(stateDir: string): Promise<RenderCache> {
  try {
    const doc = JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as RenderCache;
    if (doc.version === 1 && doc.entries && typeof doc.entries === 'object') return doc;
  } catch {
    // missing or damaged: start afresh
  }
  return { version: 1, entries: {} };
}

export async function writeRenderCache(stateDir: string, cache: RenderCache): Promise<void> {
  await writeFileAtomic(join(stateDir, FILE), JSON.stringify(cache), 0o600);
}
