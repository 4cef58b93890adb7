// How installed apps link up through interfaces (provides/requires). Pure: plain data in,
// plain data out; the supervisor, the boot hook, the verbs and `render --out` all use it.
import type { AppSpec } from '../manifest/app-spec.js';
import { factRefs, isNodeFact, type NodeFactName, type NodeFacts } from './node-facts.js';
import type { Intent } from '../supervise/types.js';

/** What an app offers under one interface, in the names its dependents' units use. */
export interface ProvidedInterface {
  /** The providing app. */
  app: string;
  /** The service of the container that serves it: dependents are ordered after it. */
  service: string;
  port: number;
  /** Exported secret → its Podman secret name. */
  secrets: Record<string, string>;
  /** Exported volume → its .volume unit base (also the Podman volume name). */
  volumes: Record<string, string>;
  /** The catalog's choice among alternatives. */
  default: boolean;
}

/** What an app's links are, derived from its manifest (kept in the render cache: no YAML on a no-op pass). */
export interface AppInterfaces {
  provides: Record<string, ProvidedInterface>;
  requires: Record<string, { optional: boolean }>;
  /** Node facts its manifest uses. */
  facts: NodeFactName[];
  /** Its own Podman secrets (their ids are rendered: a re-created secret restarts the app). */
  secrets?: string[];
}

export function interfacesOf(app: AppSpec): AppInterfaces {
  const m = app.manifest;
  const provides = Object.fromEntries(
    Object.entries(m.provides ?? {}).map(([iface, p]): [string, ProvidedInterface] => {
      const serving = app.containers.find((c) => c.spec.name === p.container)!;
      return [
        iface,
        {
          app: app.id,
          service: serving.service,
          port: p.port,
          secrets: Object.fromEntries((p.secrets ?? []).map((s) => [s, app.names.secrets[s]!])),
          volumes: Object.fromEntries((p.volumes ?? []).map((v) => [v, app.names.volumes[v]!.unit])),
          default: p.default === true,
        },
      ];
    }),
  );
  const requires = Object.fromEntries(
    Object.entries(m.requires ?? {}).map(([iface, r]) => [iface, { optional: r.optional === true }]),
  );
  const facts = new Set<NodeFactName>();
  for (const c of m.containers) {
    const values = [...Object.values(c.environment ?? {}), ...(c.command ?? []), ...(c.entrypoint ?? [])];
    for (const v of values) if (typeof v === 'string') for (const f of factRefs(v)) if (isNodeFact(f)) facts.add(f);
  }
  for (const text of Object.values(app.templateTexts ?? {}))
    for (const f of factRefs(text)) if (isNodeFact(f)) facts.add(f);
  return { provides, requires, facts: [...facts].sort(), secrets: Object.values(app.names.secrets).sort() };
}

export interface GraphApp {
  id: string;
  intent: Intent;
  interfaces: AppInterfaces;
}

/**
 * The provider of each interface among installed apps (intent not absent). A node has at
 * most one (install refuses a second); should two be there anyway, the one whose id sorts
 * first is taken, so the choice never flips between passes.
 */
export function providersOf(apps: GraphApp[]): Record<string, ProvidedInterface> {
  const out: Record<string, ProvidedInterface> = {};
  for (const a of [...apps].sort((x, y) => (x.id < y.id ? -1 : 1))) {
    if (a.intent === 'absent') continue;
    for (const [iface, p] of Object.entries(a.interfaces.provides)) out[iface] ??= p;
  }
  return out;
}

/** Installed apps that require an interface `providerId` provides, directly or through others, dependents first... last. */
export function dependentsOf(providerId: string, apps: GraphApp[]): string[] {
  const byId = new Map(apps.map((a) => [a.id, a]));
  const providers = providersOf(apps);
  const direct = (id: string) => {
    const ifaces = Object.keys(byId.get(id)?.interfaces.provides ?? {}).filter((i) => providers[i]?.app === id);
    return (
      apps
        // An optional link does not hold its provider: the app runs without it.
        .filter(
          (a) =>
            a.intent !== 'absent' &&
            a.id !== id &&
            ifaces.some((i) => i in a.interfaces.requires && !a.interfaces.requires[i]!.optional),
        )
        .map((a) => a.id)
        .sort()
    );
  };
  const seen = new Set<string>();
  const order: string[] = [];
  const visit = (id: string) => {
    for (const d of direct(id)) {
      if (seen.has(d)) continue;
      seen.add(d);
      visit(d);
      order.push(d); // a dependent's own dependents come before it
    }
  };
  visit(providerId);
  return order;
}

/** What the renderer needs to link one app: the node network, the node's facts, its providers. */
export interface RenderLinks {
  network: string;
  /** The facts the app uses, as they are now. */
  facts: Partial<NodeFacts>;
  /** Providers of the interfaces the app requires; an interface with none installed is absent. */
  providers: Record<string, ProviderLink>;
  /** Podman ids of the app's own secrets, where known (see ProviderLink.secretIds). */
  ownSecretIds?: Record<string, string>;
}

export interface ProviderLink extends ProvidedInterface {
  /** Podman IDs of the exported secrets, where known: rendered, so that a re-created secret restarts dependents. */
  secretIds: Record<string, string>;
}

/** The links of one app: only what its rendering depends on (so it keys the render cache). */
export function linksOf(
  app: AppInterfaces,
  providers: Record<string, ProvidedInterface>,
  facts: NodeFacts,
  secretIds: Record<string, string>,
  network: string,
): RenderLinks {
  const linked: Record<string, ProviderLink> = {};
  for (const iface of Object.keys(app.requires).sort()) {
    const p = providers[iface];
    if (!p) continue;
    const ids = Object.fromEntries(
      Object.values(p.secrets)
        .filter((s) => secretIds[s] !== undefined)
        .sort()
        .map((s) => [s, secretIds[s]!]),
    );
    linked[iface] = { ...p, secretIds: ids };
  }
  const used: Partial<NodeFacts> = Object.fromEntries(app.facts.map((f) => [f, facts[f]]));
  const own = Object.fromEntries((app.secrets ?? []).filter((s) => secretIds[s]).map((s) => [s, secretIds[s]!]));
  return { network, facts: used, providers: linked, ...(Object.keys(own).length > 0 ? { ownSecretIds: own } : {}) };
}

/** Apps that provide an interface in a catalog (installed or not), the default first. */
export function catalogProviders(iface: string, apps: Array<{ id: string; interfaces: AppInterfaces }>): string[] {
  return apps
    .filter((a) => iface in a.interfaces.provides)
    .sort(
      (a, b) =>
        Number(b.interfaces.provides[iface]!.default) - Number(a.interfaces.provides[iface]!.default) ||
        (a.id < b.id ? -1 : 1),
    )
    .map((a) => a.id);
}

/**
 * The links of a whole catalog rendered as one node (`render --out`, golden files): each
 * interface provided by the catalog's default provider (else the first by id), as if
 * every app were installed. No secret ids: none were created.
 */
export function catalogLinks(
  apps: Array<{ id: string; interfaces: AppInterfaces }>,
  facts: NodeFacts,
  network: string,
): Map<string, RenderLinks> {
  const providers: Record<string, ProvidedInterface> = {};
  const ifaces = new Set(apps.flatMap((a) => Object.keys(a.interfaces.provides)));
  for (const iface of ifaces) {
    const chosen = catalogProviders(iface, apps)[0]!;
    providers[iface] = apps.find((a) => a.id === chosen)!.interfaces.provides[iface]!;
  }
  return new Map(apps.map((a) => [a.id, linksOf(a.interfaces, providers, facts, {}, network)]));
}
