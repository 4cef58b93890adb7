import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Paths } from '../paths.js';
import { appDataDir } from '../paths.js';
import type { ManifestValidator } from '../manifest/validate-manifest.js';
import type { CatalogApp } from '../catalog/load-catalog.js';
import { buildContextsOf, buildContextStamp } from '../catalog/build-context.js';
import { intentOf, type SupervisorState } from './state-store.js';
import type { Desired, DesiredApp, RenderedApp } from './types.js';
import { buildId, cacheKey, EARLIER_KEPT, linkedKey, readRenderCache, writeRenderCache } from './render-cache.js';
import { interfacesOf, linksOf, providersOf, type AppInterfaces, type RenderLinks } from '../graph/app-graph.js';
import type { NodeFacts } from '../graph/node-facts.js';
import { NODE_NETWORK, NODE_NETWORK_SUBNET } from '../names.js';
import { readSecretIds } from './secret-ids.js';
import { filesHash } from './plan-update.js';
import { readLastGood } from './last-good-store.js';

export interface LoadDesiredOptions {
  /** Refresh the render cache file when it changed (the boot generator only reads it). */
  writeCache: boolean;
  /** Loaded on the first cache miss only: a pass over unchanged manifests never parses YAML. */
  validator: () => Promise<ManifestValidator>;
  /** Identifies the renderer's build in cache keys (default: the installed build's id). */
  build?: string;
  /** The node's facts now (see node-facts-adapter.ts): apps that use one re-render when it changes. */
  facts: NodeFacts;
}

/**
 * What should be: the state's intents and the manifests, linked through the interfaces they
 * provide and require, through the render cache. Two steps: each app's links are read from
 * the cache (or its manifest when the text changed), then each app is rendered against the
 * providers and facts of the node as it is now, again from the cache when nothing it depends
 * on changed. A no-op pass parses no YAML.
 */
export async function loadDesired(paths: Paths, state: SupervisorState, o: LoadDesiredOptions): Promise<Desired> {
  const [cache, secretIds] = await Promise.all([readRenderCache(paths.stateDir), readSecretIds(paths.stateDir)]);
  const build = o.build ?? buildId();
  const network = paths.nodeNetwork ?? { name: NODE_NETWORK, subnet: NODE_NETWORK_SUBNET };
  const ids = Object.keys(state.apps).sort();
  const texts = await Promise.all(
    ids.map((id) => readFile(join(paths.appsDir, id, 'manifest.yml'), 'utf8').catch(() => undefined)),
  );
  // The texts of the templates the app had when last rendered: one changed is a cache miss.
  const baseKeyOf = async (
    id: string,
    text: string,
    templates: string[] | undefined,
    builds: string[] | undefined,
    startAtBoot = state.apps[id]!.intent === 'running',
  ) =>
    cacheKey({
      build,
      manifest: text,
      appsDir: paths.appsDir,
      dataDir: appDataDir(paths, id),
      startAtBoot,
      ...(templates?.length ? { templates: await readTemplates(join(paths.appsDir, id), templates) } : {}),
      ...(builds?.length ? { builds: await stampBuilds(join(paths.appsDir, id), builds) } : {}),
    });
  const baseKeys = new Map<string, string>();
  for (const [i, id] of ids.entries()) {
    const text = texts[i];
    if (text === undefined) continue;
    baseKeys.set(id, await baseKeyOf(id, text, cache.entries[id]?.templates, cache.entries[id]?.builds));
  }

  // 1. Each app's interfaces: from the cache while its manifest is unchanged.
  const loaded = new Map<string, CatalogApp>();
  let loader: ((id: string) => Promise<CatalogApp>) | undefined;
  const load = async (id: string): Promise<CatalogApp> => {
    if (!loaded.has(id)) {
      if (!loader) {
        const [{ loadCatalogApp }, validator] = await Promise.all([
          import('../catalog/load-catalog.js'),
          o.validator(),
        ]);
        loader = (x) => loadCatalogApp(paths.appsDir, x, validator);
      }
      loaded.set(id, await loader(id));
    }
    return loaded.get(id)!;
  };
  const interfaces = new Map<string, AppInterfaces>();
  for (const id of ids) {
    const base = baseKeys.get(id);
    const cached = cache.entries[id];
    if (base !== undefined && cached?.baseKey === base) interfaces.set(id, cached.interfaces);
    else if (base !== undefined) {
      const entry = await load(id);
      if (entry.result.ok) interfaces.set(id, interfacesOf(entry.result.app));
      // An installed app whose manifest broke runs on its last good units: its dependents
      // stay linked to it as it was, rather than held for a provider that is there.
      else if (cached) interfaces.set(id, cached.interfaces);
    }
  }
  const providers = providersOf(
    [...interfaces].map(([id, ifaces]) => ({ id, intent: state.apps[id]!.intent, interfaces: ifaces })),
  );

  // 2. Each app rendered against the node as it is: from the cache while nothing it depends on changed.
  const links = new Map<string, RenderLinks>();
  const misses: string[] = [];
  const byId = new Map<string, DesiredApp>();
  let changed = false;
  for (const id of ids) {
    const intent = state.apps[id]!;
    const ifaces = interfaces.get(id);
    if (ifaces) links.set(id, linksOf(ifaces, providers, o.facts, secretIds, network.name));
    const base = baseKeys.get(id);
    const key = base !== undefined && ifaces ? linkedKey(base, links.get(id)!) : undefined;
    const cached = cache.entries[id];
    if (key !== undefined && cached?.key === key)
      byId.set(id, withEarlier({ ...intentOf(id, intent), rendered: cached.rendered }, cached.earlier));
    else misses.push(id);
  }
  if (misses.length > 0) {
    const { buildDesired } = await import('./desired.js');
    const catalog = new Map<string, CatalogApp>();
    for (const id of misses) if (baseKeys.has(id)) catalog.set(id, await load(id));
    const subset: SupervisorState = { version: 1, apps: Object.fromEntries(misses.map((id) => [id, state.apps[id]!])) };
    for (const app of buildDesired(subset, catalog, paths, links).apps) {
      // Its manifest (or a template, a build context) changed before it had a last good set:
      // what it rendered to before is kept, one of which its files on disk came from (see
      // earlierRenderings). Not when only its links changed (a provider installed, or its
      // secret created, moments after it): the files it ran on then were never meant to run,
      // so they are nothing to go back to.
      // Nor when only its intent changed (started, stopped): no release came.
      const before = cache.entries[app.id];
      const text0 = texts[ids.indexOf(app.id)];
      const edited =
        before !== undefined &&
        text0 !== undefined &&
        before.baseKey !== baseKeys.get(app.id) &&
        before.baseKey !==
          (await baseKeyOf(app.id, text0, before.templates, before.builds, state.apps[app.id]!.intent !== 'running'));
      const earlier =
        app.lastGoodHash || !before || !app.rendered
          ? undefined
          : edited
            ? earlierOf(app.rendered, [before.rendered, ...(before.earlier ?? [])])
            : before.earlier;
      byId.set(app.id, withEarlier(app, earlier));
      const entry = catalog.get(app.id);
      const templates = entry?.result.ok ? Object.keys(entry.result.app.templateTexts ?? {}).sort() : undefined;
      const builds = entry?.result.ok ? buildContextsOf(entry.result.app) : undefined;
      const text = texts[ids.indexOf(app.id)];
      // Keyed by the templates and build contexts it has now (they may differ from those it had).
      const base =
        text !== undefined && (templates?.length || builds?.length)
          ? await baseKeyOf(app.id, text, templates, builds)
          : baseKeys.get(app.id);
      const ifaces = interfaces.get(app.id);
      if (app.rendered && base !== undefined && ifaces) {
        cache.entries[app.id] = {
          baseKey: base,
          key: linkedKey(base, links.get(app.id)!),
          interfaces: ifaces,
          ...(templates?.length ? { templates } : {}),
          ...(builds?.length ? { builds } : {}),
          rendered: app.rendered,
          ...(earlier?.length ? { earlier } : {}),
        };
        changed = true;
      }
    }
  }
  for (const id of Object.keys(cache.entries)) {
    if (!state.apps[id]) {
      delete cache.entries[id];
      changed = true;
    }
  }
  if (changed && o.writeCache) await writeRenderCache(paths.stateDir, cache).catch(() => undefined);
  const chosen = await Promise.all(ids.map((id) => withLastGoodSet(paths.stateDir, byId.get(id)!)));
  const apps = withoutClashes(chosen).map((app): DesiredApp => {
    if (app.id !== network.name || !app.rendered) return app;
    // Its own network would be named like the node network (both `<name>.network`).
    const { rendered: _rendered, ...rest } = app;
    return { ...rest, error: `app id "${app.id}" is the node network's name (nodeNetwork.name in the configuration)` };
  });
  // The node network, from the first app that links to another on: its file then stays.
  const linking = apps.some(
    (a) =>
      a.intent !== 'absent' &&
      a.rendered !== undefined &&
      (a.rendered.provides.length > 0 || a.rendered.needs.some((n) => n.provider !== undefined)),
  );
  if (!linking) return { apps };
  const { renderNodeUnits } = await import('../render/render-app.js');
  return {
    apps,
    nodeFiles: renderNodeUnits(network.subnet, network.name).map(({ name, content }) => ({ name, content })),
  };
}

/**
 * The renderings an app had before, newest first: each once, never the one it has now (an
 * edit that changes no file, such as a comment, or a touched build context, adds none).
 */
function earlierOf(now: RenderedApp, before: RenderedApp[]): RenderedApp[] {
  const seen = new Set([filesHash(now.files)]);
  return before
    .filter((r) => {
      const h = filesHash(r.files);
      if (seen.has(h)) return false;
      seen.add(h);
      return true;
    })
    .slice(0, EARLIER_KEPT);
}

/** The app with the renderings it had before its last edits, while it has no last good set. */
function withEarlier(app: DesiredApp, earlier: DesiredApp['earlierRenderings']): DesiredApp {
  return earlier?.length && app.rendered && !app.lastGoodHash ? { ...app, earlierRenderings: earlier } : app;
}

/**
 * An app whose update is being, or was, rolled back: its desired rendering is its last good
 * set while the manifest renders the files that failed (see plan-update.ts); the new
 * rendering is kept aside (`heldBack`) for status and `update --check`.
 */
async function withLastGoodSet(stateDir: string, app: DesiredApp): Promise<DesiredApp> {
  const u = app.update;
  if (!app.rendered || (u?.phase !== 'rollingBack' && u?.phase !== 'rolledBack')) return app;
  if (filesHash(app.rendered.files) !== u.toHash) {
    // The manifest changed since: a new update (through the gate), or back to the last good
    // set, when a rolled-back record no longer says anything of the app.
    if (u.phase === 'rolledBack' && filesHash(app.rendered.files) === app.lastGoodHash) {
      const { update: _stale, ...rest } = app;
      return rest;
    }
    return app;
  }
  const set = await readLastGood(stateDir, app.id);
  if (!set) return app;
  return { ...app, rendered: set.rendered, heldBack: app.rendered };
}

async function stampBuilds(appDir: string, contexts: string[]): Promise<Record<string, string>> {
  const stamps = await Promise.all(contexts.map((c) => buildContextStamp(join(appDir, c))));
  return Object.fromEntries(contexts.map((c, i) => [c, stamps[i]!]));
}

async function readTemplates(appDir: string, paths: string[]): Promise<Record<string, string | null>> {
  const texts = await Promise.all(paths.map((p) => readFile(join(appDir, p), 'utf8').catch(() => null)));
  return Object.fromEntries(paths.map((p, i) => [p, texts[i]!]));
}

/** Two apps must never generate the same unit: the app whose id sorts later is held, with the reason. */
function withoutClashes(apps: DesiredApp[]): DesiredApp[] {
  const owner = new Map<string, string>();
  return apps.map((app) => {
    const clash = (app.rendered?.services ?? []).find((s) => owner.has(s) && owner.get(s) !== app.id);
    if (clash) {
      const { rendered: _rendered, ...rest } = app;
      return { ...rest, error: `unit ${clash} is also generated by app "${owner.get(clash)}"` };
    }
    for (const s of app.rendered?.services ?? []) owner.set(s, app.id);
    return app;
  });
}
