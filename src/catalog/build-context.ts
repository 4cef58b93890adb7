import { createHash } from 'node:crypto';
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AppSpec } from '../manifest/app-spec.js';
import type { BuildSpec } from '../manifest/types.js';

// A local build's image is tagged by the manifest's version and the content of its build
// context (`localhost/archy/bitcoin-ui:1.0.0-<hash>`): a fix to a companion's page reaches
// the node with no version bump, as an update (built while the old version runs, then
// health-gated). Computed here, in the catalog adapter: the renderer stays pure.

/** Every entry under a build context, relative, sorted; symbolic links as links (not followed). */
async function walk(dir: string, rel = ''): Promise<Array<{ rel: string; abs: string }>> {
  const entries = await readdir(join(dir, rel), { withFileTypes: true });
  const out: Array<{ rel: string; abs: string }> = [];
  for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    out.push({ rel: r, abs: join(dir, r) });
    if (e.isDirectory()) out.push(...(await walk(dir, r)));
  }
  return out;
}

/** The content of a build context (names, kinds, modes, bytes): 12 hex digits. */
export async function buildContextHash(dir: string): Promise<string> {
  const h = createHash('sha256');
  for (const { rel, abs } of await walk(dir)) {
    const st = await lstat(abs);
    h.update(`${rel}\0${st.mode.toString(8)}\0`);
    if (st.isSymbolicLink()) h.update(`-> ${await readlink(abs)}`);
    else if (st.isFile()) h.update(await readFile(abs));
    h.update('\0');
  }
  return h.digest('hex').slice(0, 12);
}

/**
 * The hash in a local build's tag: its context's content, and the build's own options (a
 * changed build argument or target is another image, though no file changed). Without
 * options it is the context's hash alone, so that the tags built before stay the same.
 */
export function buildTagHash(contextHash: string, build: BuildSpec): string {
  const args = Object.entries(build.args ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const file = build.containerfile === 'Containerfile' ? undefined : build.containerfile; // the default, named
  if (args.length === 0 && build.target === undefined && file === undefined) return contextHash;
  const options = JSON.stringify([args, build.target ?? null, file ?? null]);
  return createHash('sha256').update(`${contextHash}\0${options}`).digest('hex').slice(0, 12);
}

/** What changes whenever the content may have (names, sizes, modification times): the render cache's key. */
export async function buildContextStamp(dir: string): Promise<string> {
  const h = createHash('sha256');
  try {
    for (const { rel, abs } of await walk(dir)) {
      const st = await lstat(abs);
      h.update(`${rel}\0${st.mode}\0${st.size}\0${st.mtimeMs}\0`);
    }
  } catch {
    h.update('missing');
  }
  return h.digest('hex');
}

/** The build contexts of an app, relative to its folder: the render cache keys on their content. */
export function buildContextsOf(app: AppSpec): string[] {
  return [...new Set(app.containers.flatMap((c) => (c.spec.build ? [c.spec.build.context] : [])))].sort();
}
