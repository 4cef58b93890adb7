import type { Supervisor, PassReport } from './supervisor.js';
import { changeState, requestPass } from './supervisor.js';
import { listCatalog, loadCatalogApp, type CatalogApp } from '../catalog/load-catalog.js';
import { checkCatalog, hostPortClashes, portPosition } from '../catalog/catalog-checks.js';
import { catalogProviders, dependentsOf, interfacesOf, providersOf, type GraphApp } from '../graph/app-graph.js';
import type { SupervisorState } from './state-store.js';
import type { ObservedContainer } from './types.js';
import { isAppId } from '../names.js';
import type { ManifestError } from '../manifest/types.js';

export type IntentChange = 'install' | 'uninstall' | 'purge' | 'start' | 'stop' | 'restart';

/** How a change treats the apps linked to this one (see docs: apps that need apps). */
export interface LinkOptions {
  /** install: also install, first, a provider (the catalog's default) of each required interface none provides. */
  withDependencies?: boolean;
  /** install: uninstall the installed provider of an interface this app provides (its dependents follow this one). */
  replace?: boolean;
  /** stop, uninstall, purge: stop (or uninstall, keeping their data) the apps that need this one, first. */
  cascade?: boolean;
  /** The change is an adoption: a missing provider is adopted (or installed) first, never pulled in. */
  adopting?: boolean;
}

export class IntentError extends Error {
  constructor(
    message: string,
    readonly errors: ManifestError[] = [],
  ) {
    super(message);
  }
}

/** Refuses a name that cannot be an app (`../etc`, unicode, 300 characters) before anything is read. */
export function checkAppId(appId: string): void {
  if (!isAppId(appId))
    throw new IntentError(`"${printable(appId)}" is not an app id (lower-case letters, digits and inner hyphens)`);
}

/**
 * Records what the user wants for one app (under the state lock, held for moments), then
 * has a pass run that started after it: its own, or one another process was about to run
 * anyway (see requestPass). Returns as soon as the steps are issued; systemd does the rest.
 */
export async function changeIntent(
  sv: Supervisor,
  appId: string,
  change: IntentChange,
  links: LinkOptions = {},
): Promise<PassReport> {
  checkAppId(appId);
  // The manifests are read before the state lock: a slow disk must not hold up other verbs.
  const installable = change === 'install' ? await checkInstallable(sv, appId) : undefined;
  const catalog =
    change === 'install' || change === 'stop' || change === 'uninstall' || change === 'purge'
      ? await loadLinkedCatalog(sv)
      : undefined;
  // Podman's own view, read before the lock too: a container not ours that holds a name the
  // units would take (the units' `podman run --replace` would delete it, at the first start
  // or at a boot).
  // Podman that cannot answer does not stop an install: the planner checks again before a start.
  const containers = installable ? await sv.podman.containers().catch(() => ({})) : undefined;
  await changeState(sv, (state) => {
    const current = state.apps[appId];
    if (installable && current?.adoption && current.adoption.phase !== 'rolledBack')
      throw new IntentError(
        `"${appId}" is being adopted (${current.adoption.phase}): wait until it is done or rolled back`,
      );
    if (installable) {
      const order = installOrder(state, catalog!, appId, links);
      refuseHostPortClashes(state, catalog!, order);
      refuseNamesInUse(state, catalog!, order, containers!);
      for (const id of order) {
        const was = state.apps[id];
        const kept = was && was.intent !== 'absent' ? was : undefined;
        const entry = catalog!.find((e) => e.id === id);
        const version = entry?.result.ok ? entry.result.app.manifest.version : undefined;
        state.apps[id] = {
          ...kept,
          intent: 'running',
          // Installed again after an uninstall: a new install (its postInstall hook runs again).
          installedAt: kept?.installedAt ?? new Date(sv.clock.nowMs()).toISOString(),
          // Where its manifest came from: doctor flags an entry point that would read another.
          catalog: sv.paths.appsDir,
          // The version it was installed at: a later one is an update (its postUpdate hook runs).
          ...(kept?.installedVersion
            ? { installedVersion: kept.installedVersion }
            : version
              ? { installedVersion: version }
              : {}),
        };
        delete state.apps[id]!.purge;
      }
      return;
    }
    if (current?.adoption && current.adoption.phase !== 'rolledBack')
      throw new IntentError(
        `"${appId}" is being adopted (${current.adoption.phase}): wait until it is done or rolled back (archy-quadlet status ${appId})`,
      );
    if (!current || (current.intent === 'absent' && change !== 'uninstall' && change !== 'purge')) {
      throw new IntentError(`"${appId}" is not installed (archy-quadlet install ${appId})`);
    }
    // Uninstalling an app whose adoption was rolled back: only its record goes (the old containers are the user's).
    if (current.adoption && (change === 'uninstall' || change === 'purge')) delete current.adoption;
    if (catalog && current.intent !== 'absent') cascadeTo(state, catalog, appId, change, links);
    if (change === 'uninstall' || change === 'purge')
      state.apps[appId] = { ...current, intent: 'absent', purge: change === 'purge' || current.purge === true };
    if (change === 'start') state.apps[appId] = { ...current, intent: 'running' };
    if (change === 'stop') state.apps[appId] = { ...current, intent: 'stopped' };
    if (change === 'restart')
      state.apps[appId] = { ...current, intent: 'running', restartRequestedAt: sv.clock.nowMs() };
  });
  return requestPass(sv);
}

/** The catalog with its apps' interfaces, for the checks of a verb (the manifests as they are now). */
async function loadLinkedCatalog(sv: Supervisor): Promise<CatalogApp[]> {
  const validator = await sv.validator();
  const ids = await listCatalog(sv.paths.appsDir);
  // Host ports are checked against the installed apps (install), not across the catalog:
  // a clash with an app that is not installed must not make either unusable here.
  return checkCatalog(await Promise.all(ids.map((id) => loadCatalogApp(sv.paths.appsDir, id, validator))), {
    hostPorts: false,
  });
}

function graphOf(state: SupervisorState, catalog: CatalogApp[]): GraphApp[] {
  return catalog.flatMap((e) =>
    e.result.ok && state.apps[e.id]
      ? [{ id: e.id, intent: state.apps[e.id]!.intent, interfaces: interfacesOf(e.result.app) }]
      : [],
  );
}

/**
 * The apps an install sets running, providers first: the app, and with --with-dependencies
 * the catalog's default provider of each interface it needs that no installed app provides.
 * Refuses a second provider of an installed interface (unless --replace, which uninstalls
 * the current one, data kept) and a required interface nobody provides.
 */
function installOrder(state: SupervisorState, catalog: CatalogApp[], appId: string, o: LinkOptions): string[] {
  const all = catalog.flatMap((e) => (e.result.ok ? [{ id: e.id, interfaces: interfacesOf(e.result.app) }] : []));
  const order: string[] = [];
  const visit = (id: string, trail: string[]) => {
    if (order.includes(id) || trail.includes(id)) return;
    const me = all.find((a) => a.id === id);
    if (!me) throw new IntentError(`the manifest of "${id}" is invalid; nothing was installed`);
    const providers = providersOf(graphOf(state, catalog));
    for (const iface of Object.keys(me.interfaces.provides)) {
      const current = providers[iface];
      if (!current || current.app === id) continue;
      if (!o.replace)
        throw new IntentError(
          `${id} provides ${iface}, which ${current.app} already provides on this node (one provider per interface): ` +
            `uninstall ${current.app} first, or install ${id} --replace (its dependents then use ${id})`,
        );
      if (inFlight(state, current.app))
        throw new IntentError(
          `${current.app} is being adopted: wait until that is done or rolled back before replacing it`,
        );
      state.apps[current.app] = { ...state.apps[current.app]!, intent: 'absent', purge: false };
    }
    for (const [iface, need] of Object.entries(me.interfaces.requires).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const installing = order.some((x) => iface in all.find((a) => a.id === x)!.interfaces.provides);
      if (need.optional || providers[iface] || installing) continue;
      const candidates = catalogProviders(iface, all);
      if (!o.withDependencies || candidates.length === 0) {
        const some = `${candidates.length > 1 ? 'one of ' : ''}${candidates.join(', ')}`;
        const which =
          candidates.length === 0
            ? 'no app in the catalog provides it'
            : o.adopting
              ? `adopt (or install) ${some} first`
              : `install ${some} first, or install ${appId} --with-dependencies`;
        throw new IntentError(`${id} needs ${iface}, which no installed app provides: ${which}`);
      }
      visit(candidates[0]!, [...trail, id]);
    }
    order.push(id);
  };
  visit(appId, []);
  return order;
}

/**
 * Refuses an install whose apps (in `order`) publish a host port that an installed app (intent
 * running or stopped, after --replace) or an app installed with it also publishes: the second
 * to start would fail. Alternatives may share ports (only one is installed); a reinstall is
 * not a clash with itself. An installed app whose manifest is gone or invalid is not known.
 */
function refuseHostPortClashes(state: SupervisorState, catalog: CatalogApp[], order: string[]): void {
  const valid = (id: string) => {
    const entry = catalog.find((e) => e.id === id);
    return entry?.result.ok ? { entry, app: entry.result.app } : undefined;
  };
  const installed = Object.keys(state.apps)
    .filter((id) => state.apps[id]!.intent !== 'absent' && !order.includes(id))
    .sort();
  for (const [k, id] of order.entries()) {
    const me = valid(id);
    if (!me) continue;
    for (const [others, how] of [
      [installed, (other: string) => `${other} already publishes on this node`],
      [order.slice(0, k), (other: string) => `${other}, installed with it, also publishes`],
    ] as const) {
      for (const otherId of others) {
        const other = valid(otherId);
        if (!other) continue;
        const [clash] = hostPortClashes(me.app, other.app);
        if (!clash) continue;
        const fix = others === installed ? `uninstall ${otherId} first, or change` : 'change';
        throw new IntentError(
          `${id} publishes host port ${clash.mine.port}/${clash.mine.protocol} (${portPosition(me.entry, clash.mine)}), ` +
            `which ${how(otherId)} (${portPosition(other.entry, clash.theirs)}): ${fix} the port of one of them`,
        );
      }
    }
  }
}

/**
 * Stopping or uninstalling a provider: refused while apps that need it run (stop) or are
 * installed (uninstall), naming them, unless --cascade, which stops them (or uninstalls
 * them, their data kept) in the same change; systemd stops them before their provider.
 */
function cascadeTo(
  state: SupervisorState,
  catalog: CatalogApp[],
  appId: string,
  change: IntentChange,
  o: LinkOptions,
): void {
  if (change !== 'stop' && change !== 'uninstall' && change !== 'purge') return;
  const graph = graphOf(state, catalog);
  const affected = dependentsOf(appId, graph).filter((id) =>
    change === 'stop' ? state.apps[id]?.intent === 'running' : state.apps[id]?.intent !== 'absent',
  );
  if (affected.length === 0) return;
  // An app being adopted goes on with the intent it was adopted with: never changed under it.
  const adopting = affected.filter((id) => inFlight(state, id));
  if (adopting.length > 0)
    throw new IntentError(
      `${adopting.join(', ')} need${adopting.length === 1 ? 's' : ''} ${appId} and ${adopting.length === 1 ? 'is' : 'are'} being adopted: wait until that is done or rolled back`,
    );
  const verb = change === 'stop' ? 'stop' : change === 'purge' ? 'uninstall --purge' : 'uninstall';
  if (!o.cascade) {
    const how = change === 'stop' ? 'running' : 'installed';
    throw new IntentError(
      `${affected.join(', ')} need${affected.length === 1 ? 's' : ''} ${appId} (${how}): ` +
        `${change === 'stop' ? 'stop' : 'uninstall'} ${affected.length === 1 ? 'it' : 'them'} first, or ${verb} ${appId} --cascade`,
    );
  }
  for (const id of affected) {
    const was = state.apps[id]!;
    state.apps[id] = change === 'stop' ? { ...was, intent: 'stopped' } : { ...was, intent: 'absent', purge: false };
  }
}

/**
 * Refuses an install whose containers would take the name of a container archy-quadlet does
 * not own (or another app's): an old node's own container, or the one an adoption rolled back
 * to. Its unit's `podman run --replace` would delete that container, writable layer and all.
 * An app installed already is the planner's to deal with (it waits, and says so).
 */
function refuseNamesInUse(
  state: SupervisorState,
  catalog: CatalogApp[],
  order: string[],
  containers: Record<string, ObservedContainer>,
): void {
  for (const id of order) {
    const was = state.apps[id];
    if (was && was.intent !== 'absent') continue;
    const entry = catalog.find((e) => e.id === id);
    if (!entry?.result.ok) continue;
    for (const c of entry.result.app.containers) {
      const found = containers[c.containerName];
      if (!found || found.app === id) continue;
      const owner = found.app ? `a container of ${found.app}` : 'a container archy-quadlet does not own';
      throw new IntentError(
        `a container named ${c.containerName} is already there (${owner}): ` +
          (found.app
            ? `uninstall ${found.app} first`
            : `archy-quadlet adopt ${id} takes it over, keeping its data; or remove or rename it`),
      );
    }
  }
}

async function checkInstallable(sv: Supervisor, appId: string): Promise<true> {
  const ids = await listCatalog(sv.paths.appsDir);
  if (!ids.includes(appId)) throw new IntentError(`no app "${appId}" in the catalog ${sv.paths.appsDir}`);
  const entry = await loadCatalogApp(sv.paths.appsDir, appId, await sv.validator());
  if (!entry.result.ok)
    throw new IntentError(`the manifest of "${appId}" is invalid; nothing was installed`, entry.result.errors);
  return true;
}

function printable(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}

/**
 * What an install of the app would refuse now (a required interface no installed app provides,
 * a host port another installed app publishes), or undefined: `adopt` installs an app in place
 * of its old containers, and refuses the same.
 */
export async function installRefusal(
  sv: Supervisor,
  appId: string,
  state: SupervisorState,
): Promise<string | undefined> {
  const catalog = await loadLinkedCatalog(sv);
  const scratch = structuredClone(state);
  try {
    refuseHostPortClashes(scratch, catalog, installOrder(scratch, catalog, appId, { adopting: true }));
    return undefined;
  } catch (e) {
    if (e instanceof IntentError) return e.message;
    throw e;
  }
}

function inFlight(state: SupervisorState, id: string): boolean {
  const phase = state.apps[id]?.adoption?.phase;
  return phase !== undefined && phase !== 'rolledBack';
}
