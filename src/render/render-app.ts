import type { AppSpec, ContainerPlan } from '../manifest/app-spec.js';
import type {
  BindMountSpec,
  ContainerSpec,
  DeviceSpec,
  HealthcheckSpec,
  PortSpec,
  SecretFileSpec,
  SelinuxLabel,
  TmpfsSpec,
  VolumeMountSpec,
} from '../manifest/types.js';
import { durationMs, formatGoDuration, iecBytes } from '../manifest/measures.js';
import { argumentLine, descriptionText, jsonArrayValue, keyValueWord, quoteWord, rawValue } from './escape.js';
import { serializeSections, sha256, withHeader, type UnitEntry, type UnitSection } from './unit-file.js';
import { parseRef } from '../graph/interface-ref.js';
import { withFacts, type NodeFactName } from '../graph/node-facts.js';
import type { ProviderLink, RenderLinks } from '../graph/app-graph.js';
import { NODE_NETWORK } from '../names.js';
import { parseTemplate, templateFactRefs, templateSecretRefs } from '../templates/config-template.js';

/** The app cannot be linked as the node stands (a required interface has no provider, a fact is unknown). */
export class LinkError extends Error {}

export interface RenderOptions {
  /** Start the app at boot ([Install] WantedBy=default.target). The supervisor turns it off for stopped apps. */
  startAtBoot: boolean;
  /** Where the manifest came from, as shown in each file's header. */
  source: string;
  /** Absolute folder of the app (build contexts are relative to it). */
  appDir: string;
  /** Absolute data directory of the app (relative bind sources are relative to it). */
  dataDir: string;
  /**
   * The node as it stands: its network, its facts, the providers of the interfaces the app
   * requires (see graph/app-graph.ts linksOf). Default: no provider installed, no facts known.
   */
  links?: RenderLinks;
}

export interface RenderedFile {
  /** File name inside the app's unit directory, e.g. immich-server.container */
  name: string;
  content: string;
  sha256: string;
}

export const LABEL_APP = 'io.archipelago.app';
export const LABEL_MANAGED_BY = 'io.archipelago.managed-by';
/** `io.archipelago.link.<interface>`: the provider a container is linked to (and its secrets' ids). */
export const LABEL_LINK_PREFIX = 'io.archipelago.link.';
/** `io.archipelago.secret-ids`: the Podman ids of the app's own secrets a container reads. */
export const LABEL_SECRET_IDS = 'io.archipelago.secret-ids';
/** `io.archipelago.templates`: the input keys of the config files rendered from templates it mounts. */
export const LABEL_TEMPLATES = 'io.archipelago.templates';
/** systemd waits this much longer than the container's own stop timeout before it kills. */
export const STOP_TIMEOUT_MARGIN_SEC = 30;

/** Manifest → Quadlet files. Pure: same input, same bytes; files sorted by name. */
export function renderApp(app: AppSpec, options: RenderOptions): RenderedFile[] {
  const files: Array<{ name: string; sections: UnitSection[] }> = [];
  const ownLabels = ownershipLabels(app.id);
  if (app.names.networkUnit) {
    files.push({
      name: `${app.names.networkUnit}.network`,
      sections: [
        unitSection(`${app.manifest.name}: private network (archy-quadlet app ${app.id})`),
        { name: 'Network', entries: [['NetworkName', rawValue(app.names.networkName!)], ...ownLabels] },
      ],
    });
  }
  for (const [vol, names] of Object.entries(app.names.volumes)) {
    files.push({
      name: `${names.unit}.volume`,
      sections: [
        unitSection(`${app.manifest.name}: volume ${vol} (archy-quadlet app ${app.id})`),
        {
          name: 'Volume',
          entries: [
            ['VolumeName', rawValue(names.name)],
            ...ownLabels,
            ...labelEntries(app.manifest.volumes?.[vol]?.labels),
          ],
        },
      ],
    });
  }
  for (const c of app.containers) {
    if (c.build) files.push({ name: `${c.build.unitBase}.build`, sections: buildSections(app, c, options) });
    files.push({ name: `${c.unitBase}.container`, sections: containerSections(app, c, options) });
  }
  return files
    .map(({ name, sections }) => {
      const content = withHeader(serializeSections(sections), app.id, options.source);
      return { name, content, sha256: sha256(content) };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The node's own units (in the unit root's _node directory): the node network that links
 * apps. Written when the first app needs it and never removed with an app: it outlives every
 * unit that references it, and holds no data.
 */
export function renderNodeUnits(subnet: string, network: string = NODE_NETWORK): RenderedFile[] {
  const sections: UnitSection[] = [
    unitSection('archy-quadlet: node network linking apps (provides/requires)'),
    {
      name: 'Network',
      entries: [
        ['NetworkName', rawValue(network)],
        ['Subnet', rawValue(subnet)],
        ['Label', keyValueWord(LABEL_MANAGED_BY, 'archy-quadlet')],
      ],
    },
  ];
  const content = withHeader(serializeSections(sections), network, 'archy-quadlet (node)');
  return [{ name: `${network}.network`, content, sha256: sha256(content) }];
}

function unitSection(description: string, extra: UnitEntry[] = []): UnitSection {
  return { name: 'Unit', entries: [['Description', descriptionText(description)], ...extra] };
}

/** The labels that make a network, volume, image or container ours, as unescaped pairs. */
function ownershipPairs(appId: string): Array<[string, string]> {
  return [
    [LABEL_APP, appId],
    [LABEL_MANAGED_BY, 'archy-quadlet'],
  ];
}

function ownershipLabels(appId: string): UnitEntry[] {
  return ownershipPairs(appId).map(([k, v]) => ['Label', keyValueWord(k, v)]);
}

function labelEntries(labels: Record<string, string> | undefined): UnitEntry[] {
  return sortedByKey(labels).map(([k, v]) => ['Label', keyValueWord(k, v)]);
}

/** A map's pairs sorted by key: the file must not depend on the order the manifest lists them in. */
function sortedByKey<T>(map: Record<string, T> | undefined): Array<[string, T]> {
  return Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
}

function buildSections(app: AppSpec, c: ContainerPlan, o: RenderOptions): UnitSection[] {
  const b = c.spec.build!;
  const context = joinPath(o.appDir, b.context);
  const args = Object.entries(b.args ?? {}).sort(([x], [y]) => (x < y ? -1 : 1));
  return [
    unitSection(`${app.manifest.name}: build of ${c.spec.name} (archy-quadlet app ${app.id})`),
    {
      name: 'Build',
      entries: [
        ['ImageTag', rawValue(c.build!.imageTag)],
        ['File', rawValue(joinPath(context, b.containerfile ?? 'Containerfile'))],
        ['SetWorkingDirectory', rawValue(context)],
        ...(b.target ? [['Target', rawValue(b.target)] as const] : []),
        ...ownershipLabels(app.id),
        ...args.map(([k, v]): UnitEntry => ['PodmanArgs', quoteWord(`--build-arg=${k}=${v}`)]),
      ],
    },
    {
      name: 'Service',
      entries: [
        // A .build unit is not RemainAfterExit by default: without this, the image would
        // be rebuilt every time a dependent container starts.
        ['RemainAfterExit', 'yes'],
        // Built only when the tag is missing. The tag names the context's content, so an
        // image under it is this build already; and a boot must not build the app's folder
        // as it is then under this tag (after a rolled-back update, the failed context).
        // A skipped unit is not failed: the container it orders starts (measured, systemd 257).
        ['ExecCondition', `/bin/sh -c "! /usr/bin/podman image exists '${c.build!.imageTag}'"`],
        ['TimeoutStartSec', String(c.startTimeoutSec)],
      ],
    },
  ];
}

function containerSections(app: AppSpec, c: ContainerPlan, o: RenderOptions): UnitSection[] {
  const s = c.spec;
  const unit: UnitEntry[] = [];
  for (const dep of c.hard) unit.push(['Requires', dep], ['After', dep]);
  for (const dep of c.soft) unit.push(['Wants', dep], ['After', dep]);
  // Ordered after the provider and never pulling it in: Requires=/Wants= would start a
  // bitcoind the user stopped as soon as lnd starts (or at boot). See QUADLET-FACTS.md.
  // An optional link only orders: the app runs (and keeps running) without its provider.
  for (const [iface, link] of Object.entries(linkedProviders(app, c, o))) {
    if (!app.manifest.requires?.[iface]?.optional) unit.push(['Requisite', link.service]);
    unit.push(['After', link.service]);
  }
  // systemd restarts a crashing container quickly; a crash loop hits this limit and the
  // unit fails, after which the supervisor's own backoff takes over.
  unit.push(['StartLimitIntervalSec', '120'], ['StartLimitBurst', '5']);

  const ctx: ContainerContext = { app, plan: c, spec: s, options: o };
  const ctr: UnitEntry[] = [];
  for (const { key, emit } of CONTAINER_KEYS) for (const value of emit(ctx)) ctr.push([key, value]);

  const service: UnitEntry[] = [
    // An init container runs to completion once per start of the app: systemd keeps it
    // active once it has exited 0, so the containers that require it start after it and it is
    // not run again until the app stops. Quadlet accepts Type=oneshot (and then sends no
    // sd-notify); Restart= other than no/on-failure is refused with it.
    ...(c.oneshot
      ? ([
          ['Type', 'oneshot'],
          ['RemainAfterExit', 'yes'],
          ['Restart', 'no'],
        ] as UnitEntry[])
      : ([
          ['Restart', s.restart ?? 'always'],
          ['RestartSec', '2'],
        ] as UnitEntry[])),
    ['TimeoutStartSec', String(c.startTimeoutSec)],
    // Podman gets StopTimeout first; systemd must wait longer or it kills a bitcoind
    // mid-flush at its default 90 s.
    ['TimeoutStopSec', String(c.stopTimeoutSec + STOP_TIMEOUT_MARGIN_SEC)],
    // A deliberate stop of a PID 1 that ignores SIGTERM ends in 137 (or 143): not a failure.
    ['SuccessExitStatus', '137 143'],
    // The Exec row's words that no quoting carries ("" and ";") are ${VAR}s defined here.
    // Computed again rather than shared: argumentLine is pure, and the Exec row has already
    // thrown, in its place in the table, if the command cannot be written.
    ...(s.command?.length ? argumentLine(commandOf({ app, plan: c, spec: s, options: o })).serviceEnv : []),
  ];
  const sections: UnitSection[] = [
    unitSection(`${app.manifest.name}: ${s.name} (archy-quadlet app ${app.id})`, unit),
    { name: 'Container', entries: ctr },
    { name: 'Service', entries: service },
  ];
  if (o.startAtBoot) sections.push({ name: 'Install', entries: [['WantedBy', 'default.target']] });
  return sections;
}

/** What a [Container] row reads its values from. */
export interface ContainerContext {
  app: AppSpec;
  plan: ContainerPlan;
  spec: ContainerSpec;
  options: RenderOptions;
}

/** One row of the [Container] table: a Quadlet key, the manifest field behind it, and its values. */
export interface ContainerKey {
  /** The Quadlet key, e.g. PublishPort. */
  key: string;
  /** The manifest field the values come from, e.g. containers[].ports. */
  field: string;
  /** Zero or more values, each already escaped: one `key=value` line per value. */
  emit: (ctx: ContainerContext) => string[];
}

/**
 * Every key the [Container] section of a .container unit can carry, in the order it is
 * written, as Podman's Quadlet keeps one table of keys per unit type: which key, from which
 * manifest field, escaped how. Reordering rows reorders the rendered lines (the golden files
 * notice); a new key must be one Quadlet 5.4 accepts (test/render/container-keys.test.ts).
 */
export const CONTAINER_KEYS: readonly ContainerKey[] = [
  { key: 'ContainerName', field: 'id, containers[].name', emit: ({ plan }) => [rawValue(plan.containerName)] },
  {
    key: 'Image',
    field: 'containers[].image, containers[].build',
    // A built image is named by its .build unit: Quadlet then orders the build first.
    emit: ({ plan, spec }) => [rawValue(plan.build ? `${plan.build.unitBase}.build` : spec.image!)],
  },
  {
    key: 'Pull',
    field: 'containers[].pull',
    emit: ({ plan, spec }) => (plan.build ? [] : [verbatim(spec.pull ?? 'missing')]),
  },
  {
    key: 'Network',
    field: 'network, containers[].networkAliases, provides, requires',
    // Aliases are given per network (`x.network:alias=a`): NetworkAlias= would apply to every
    // network, and a stack's `database` would then answer on the node network for every app.
    emit: (ctx) => {
      const { app, spec, plan } = ctx;
      if (plan.network === 'host' || plan.network === 'none') return [verbatim(plan.network)];
      const nets: string[] = [];
      if (app.network === 'private')
        nets.push(withAliases(`${app.names.networkUnit}.network`, [spec.name, ...(spec.networkAliases ?? [])]));
      const served = servedInterfaces(ctx);
      if (served.length > 0 || Object.keys(linkedProviders(app, ctx.plan, ctx.options)).length > 0)
        nets.push(withAliases(`${ctx.options.links?.network ?? NODE_NETWORK}.network`, served));
      return nets.map(rawValue);
    },
  },
  {
    key: 'PublishPort',
    field: 'containers[].ports',
    emit: ({ spec }) => (spec.ports ?? []).map((p) => rawValue(publishSpec(p))),
  },
  {
    key: 'AddHost',
    field: 'containers[].extraHosts',
    // hostname:address, the form Podman's --add-host documents; it cuts at the first ':', so
    // an IPv6 address goes bare (no brackets).
    emit: ({ spec }) => sortedByKey(spec.extraHosts).map(([host, ip]) => rawValue(`${host}:${ip}`)),
  },
  {
    key: 'Volume',
    field: 'containers[].volumes',
    emit: (ctx) =>
      (ctx.spec.volumes ?? []).flatMap((v) => {
        const r = parseRef(v.volume);
        if ('own' in r) return [rawValue(volumeSpec(`${ctx.app.names.volumes[r.own]!.unit}.volume`, v))];
        const link = providerOf(ctx, r.iface);
        if (!link) return []; // an optional interface with no provider: left out
        const unit = link.volumes[r.name];
        if (!unit) throw new LinkError(`${link.app} does not export volume "${r.name}" of ${r.iface}`);
        return [rawValue(volumeSpec(`${unit}.volume`, { ...v, readOnly: true, chown: false }))];
      }),
  },
  {
    key: 'Volume',
    field: 'containers[].binds',
    emit: ({ spec, options }) => (spec.binds ?? []).map((b) => rawValue(volumeSpec(bindSource(b, options.dataDir), b))),
  },
  {
    key: 'Tmpfs',
    field: 'containers[].tmpfs',
    emit: ({ spec }) => (spec.tmpfs ?? []).map((t) => rawValue(tmpfsSpec(t))),
  },
  {
    key: 'EnvironmentFile',
    field: 'containers[].environmentFiles',
    emit: ({ spec, options }) => (spec.environmentFiles ?? []).map((f) => rawValue(hostPath(f, options.appDir))),
  },
  {
    key: 'Environment',
    field: 'containers[].environment',
    emit: ({ spec, options }) =>
      sortedByKey(spec.environment).map(([k, v]) => keyValueWord(k, withFacts(String(v), factsOf(options)))),
  },
  {
    key: 'Secret',
    field: 'containers[].secretEnvironment',
    emit: (ctx) =>
      sortedByKey(ctx.spec.secretEnvironment).flatMap(([k, s]) => {
        const name = secretName(ctx, s);
        return name === undefined ? [] : [quoteWord(`${name},type=env,target=${k}`)];
      }),
  },
  {
    key: 'Secret',
    field: 'containers[].secretFiles',
    emit: (ctx) =>
      (ctx.spec.secretFiles ?? []).flatMap((f) => {
        const name = secretName(ctx, f.secret);
        return name === undefined ? [] : [quoteWord(secretFileSpec(name, f))];
      }),
  },
  {
    key: 'Secret',
    field: 'containers[].templates',
    // The rendered file is kept as a Podman secret (written by the supervisor at apply time,
    // never by this renderer): mounted read-only like any secret file, never on disk in a unit.
    emit: ({ plan }) => plan.templates.map((t) => quoteWord(secretFileSpec(t.secret, { secret: '', ...t.spec }))),
  },
  {
    key: 'DropCapability',
    field: 'containers[].capabilities.podmanDefaults, containers[].capabilities.drop',
    // Everything is dropped unless the manifest opts out; then only what it lists.
    emit: ({ spec: { capabilities: caps } }) =>
      caps?.podmanDefaults ? (caps.drop ?? []).map((cap) => verbatim(capName(cap))) : [verbatim('all')],
  },
  {
    key: 'AddCapability',
    field: 'containers[].capabilities.add',
    emit: ({ spec }) => (spec.capabilities?.add ?? []).map((cap) => verbatim(capName(cap))),
  },
  {
    key: 'NoNewPrivileges',
    field: 'containers[].noNewPrivileges',
    emit: ({ spec }) => [verbatim(spec.noNewPrivileges === false ? 'false' : 'true')],
  },
  { key: 'ReadOnly', field: 'containers[].readOnly', emit: ({ spec }) => (spec.readOnly ? [verbatim('true')] : []) },
  { key: 'RunInit', field: 'containers[].init', emit: ({ spec }) => (spec.init ? [verbatim('true')] : []) },
  {
    key: 'AddDevice',
    field: 'containers[].devices',
    emit: ({ spec }) => (spec.devices ?? []).map((d) => rawValue(deviceSpec(d))),
  },
  {
    key: 'ShmSize',
    field: 'containers[].shmSize',
    // In bytes: Podman reads a bare number as bytes, with no question of what its own k/m/g mean.
    emit: ({ spec }) => (spec.shmSize ? [verbatim(iecBytes(spec.shmSize))] : []),
  },
  {
    key: 'Ulimit',
    field: 'containers[].ulimits',
    // name=soft:hard; a single number is both.
    emit: ({ spec }) =>
      sortedByKey(spec.ulimits).map(([name, l]) =>
        rawValue(typeof l === 'number' ? `${name}=${l}:${l}` : `${name}=${l.soft}:${l.hard}`),
      ),
  },
  { key: 'User', field: 'containers[].user', emit: ({ spec }) => (spec.user ? [rawValue(spec.user)] : []) },
  {
    key: 'WorkingDir',
    field: 'containers[].workingDir',
    emit: ({ spec }) => (spec.workingDir ? [rawValue(spec.workingDir)] : []),
  },
  {
    key: 'Entrypoint',
    field: 'containers[].entrypoint',
    emit: ({ spec, options }) =>
      spec.entrypoint ? [jsonArrayValue(spec.entrypoint.map((a) => withFacts(a, factsOf(options))))] : [],
  },
  {
    key: 'Exec',
    field: 'containers[].command',
    // Its serviceEnv goes to [Service]: see containerSections.
    emit: (ctx) => (ctx.spec.command?.length ? [argumentLine(commandOf(ctx)).line] : []),
  },
  {
    key: 'HealthCmd',
    field: 'containers[].healthcheck.command, containers[].healthcheck.http, containers[].healthcheck.tcp',
    emit: ifHealthcheck((h) => jsonArrayValue(healthArgv(h))),
  },
  {
    key: 'HealthInterval',
    field: 'containers[].healthcheck.interval',
    emit: ifHealthcheck((h) => verbatim(formatGoDuration(durationMs(h.interval ?? 30)))),
  },
  {
    key: 'HealthTimeout',
    field: 'containers[].healthcheck.timeout',
    emit: ifHealthcheck((h) => verbatim(formatGoDuration(durationMs(h.timeout ?? 10)))),
  },
  {
    key: 'HealthRetries',
    field: 'containers[].healthcheck.retries',
    emit: ifHealthcheck((h) => verbatim(h.retries ?? 3)),
  },
  {
    key: 'HealthStartPeriod',
    field: 'containers[].healthcheck.startPeriod',
    emit: ifHealthcheck((h) => verbatim(formatGoDuration(durationMs(h.startPeriod ?? 0)))),
  },
  {
    key: 'HealthOnFailure',
    field: 'containers[].healthcheck.onFailure',
    emit: ifHealthcheck((h) => verbatim(h.onFailure ?? 'kill')),
  },
  {
    key: 'Notify',
    field: 'containers[].healthcheck.readiness',
    // The unit becomes active once the first check passes, so dependents start after it is healthy.
    emit: ({ spec: { healthcheck: h } }) => (h && h.readiness !== false ? [verbatim('healthy')] : []),
  },
  { key: 'StopTimeout', field: 'containers[].stopTimeout', emit: ({ plan }) => [verbatim(plan.stopTimeoutSec)] },
  {
    key: 'StopSignal',
    field: 'containers[].stopSignal',
    emit: ({ spec }) => (spec.stopSignal ? [verbatim(spec.stopSignal)] : []),
  },
  {
    key: 'Label',
    field: 'id',
    // What marks a container as ours, for the supervisor and for cleanup.
    emit: ({ app }) => ownershipPairs(app.id).map(([k, v]) => keyValueWord(k, v)),
  },
  {
    key: 'Label',
    field: 'requires',
    // Which provider the container is linked to, and the Podman ids of the secrets it reads
    // from it: a switched provider or a re-created secret changes the file, so the next pass
    // restarts the dependent (Podman copies a secret's value only when a container is created).
    emit: ({ app, plan, options }) =>
      Object.entries(linkedProviders(app, plan, options)).map(([iface, link]) => {
        const ids = Object.values(link.secretIds).map((id) => id.slice(0, 12));
        return keyValueWord(
          `${LABEL_LINK_PREFIX}${iface}`,
          [link.app, ...(ids.length ? [ids.join(',')] : [])].join(' '),
        );
      }),
  },
  {
    key: 'Label',
    field: 'secrets',
    // The ids of the app's own secrets it reads: a secret re-created (deleted by hand and
    // generated anew) restarts the provider together with its dependents, so bitcoind and lnd
    // never hold different passwords.
    emit: (ctx) => {
      const ids = ctx.options.links?.ownSecretIds ?? {};
      const read = [
        ...Object.values(ctx.spec.secretEnvironment ?? {}),
        ...(ctx.spec.secretFiles ?? []).map((f) => f.secret),
      ]
        .filter((ref) => 'own' in parseRef(ref))
        .map((ref) => ctx.app.names.secrets[ref]!)
        .filter((name) => ids[name] !== undefined);
      const known = [...new Set(read)].sort().map((name) => ids[name]!.slice(0, 12));
      return known.length > 0 ? [keyValueWord(LABEL_SECRET_IDS, known.join(','))] : [];
    },
  },
  {
    key: 'Label',
    field: 'containers[].templates',
    // What each rendered file was made from (its template's text, the ids of the secrets and
    // the facts it reads), hashed: a change of any of them changes this file, so the next pass
    // restarts the container with the file rendered anew. Never the output itself.
    emit: (ctx) => {
      const { plan } = ctx;
      if (plan.templates.length === 0) return [];
      const keys = plan.templates.map((t) => templateInput(ctx, t.spec.template).key.slice(0, 12));
      return [keyValueWord(LABEL_TEMPLATES, keys.join(','))];
    },
  },
  {
    key: 'Label',
    field: 'containers[].labels',
    emit: ({ spec }) => sortedByKey(spec.labels).map(([k, v]) => keyValueWord(k, v)),
  },
  {
    key: 'PodmanArgs',
    field: 'containers[].memory',
    // Quadlet 5.4 has no Memory= key.
    emit: ({ spec }) => (spec.memory ? [quoteWord(`--memory=${iecBytes(spec.memory)}`)] : []),
  },
];

/** The interfaces this container serves (it joins the node network under their names). */
function servedInterfaces({ app, spec }: ContainerContext): string[] {
  return Object.entries(app.manifest.provides ?? {})
    .filter(([, p]) => p.container === spec.name)
    .map(([iface]) => iface)
    .sort();
}

/**
 * The providers this container is linked to: every interface the app requires that applies to
 * the container (requires.<i>.containers, default all) and has a provider on the node. A
 * required one without a provider cannot be rendered; an optional one is left out.
 */
function linkedProviders(app: AppSpec, c: ContainerPlan, o: RenderOptions): Record<string, ProviderLink> {
  const out: Record<string, ProviderLink> = {};
  for (const [iface, r] of sortedByKey(app.manifest.requires)) {
    if (r.containers && !r.containers.includes(c.spec.name)) continue;
    const link = o.links?.providers[iface];
    if (link) out[iface] = link;
    else if (!r.optional) throw new LinkError(`needs ${iface}, and no installed app provides it`);
  }
  return out;
}

function providerOf(ctx: ContainerContext, iface: string): ProviderLink | undefined {
  return linkedProviders(ctx.app, ctx.plan, ctx.options)[iface];
}

/** The Podman secret a reference names; undefined for an optional interface with no provider. */
function secretName(ctx: ContainerContext, ref: string): string | undefined {
  const r = parseRef(ref);
  if ('own' in r) return ctx.app.names.secrets[r.own];
  const link = providerOf(ctx, r.iface);
  if (!link) return undefined;
  const name = link.secrets[r.name];
  if (!name) throw new LinkError(`${link.app} does not export secret "${r.name}" of ${r.iface}`);
  return name;
}

/** Looks a node fact up; one the node does not know cannot be rendered. */
function factsOf(o: RenderOptions): (name: NodeFactName) => string {
  return (name) => {
    const v = o.links?.facts[name];
    if (v === undefined) throw new LinkError(`node fact "node.${name}" is not known on this node`);
    return v;
  };
}

function commandOf({ spec, options }: ContainerContext): string[] {
  return (spec.command ?? []).map((a) => withFacts(a, factsOf(options)));
}

/** `x.network` with its aliases on that network only: `x.network:alias=a,alias=b`. */
function withAliases(unit: string, aliases: string[]): string {
  const unique = [...new Set(aliases)];
  return unique.length > 0 ? `${unit}:${unique.map((a) => `alias=${a}`).join(',')}` : unit;
}

/**
 * No escaper: the value is a number, a fixed word, or a word from a closed set the schema
 * enforces (an enum, a SIG... or capability name, a Go duration), so it holds nothing that
 * Quadlet or systemd would read differently. Named so that every row says how it escapes.
 */
function verbatim(value: string | number): string {
  return String(value);
}

/** The emit of a healthcheck key: one value when the container has a healthcheck. */
function ifHealthcheck(value: (h: HealthcheckSpec) => string): ContainerKey['emit'] {
  return ({ spec }) => (spec.healthcheck ? [value(spec.healthcheck)] : []);
}

/**
 * The command of a healthcheck, always in exec form, as JSON: Podman splits a ["CMD", ...]
 * array on spaces and treats a string starting with CMD or NONE as a keyword, so the shell
 * form is spelled out.
 */
function healthArgv(h: HealthcheckSpec): string[] {
  if (h.http !== undefined) {
    return ['/bin/sh', '-c', `wget -q -O /dev/null '${h.http}' || curl -fsS -o /dev/null '${h.http}'`];
  }
  if (h.tcp !== undefined) return ['/bin/sh', '-c', tcpCheck(h.tcp)];
  if (Array.isArray(h.command)) return h.command;
  return ['/bin/sh', '-c', h.command!];
}

/**
 * A TCP connect that works in most images: nc -z (OpenBSD/GNU netcat), busybox nc (no -z:
 * connect with stdin closed), or bash's /dev/tcp.
 */
export function tcpCheck(port: number): string {
  return (
    `nc -z 127.0.0.1 ${port} 2>/dev/null || ` +
    `nc -w 2 127.0.0.1 ${port} </dev/null >/dev/null 2>&1 || ` +
    `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null`
  );
}

function publishSpec(p: PortSpec): string {
  const bound = p.hostIp === undefined ? '' : p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`;
  return `${bound}${p.hostPort ?? p.containerPort}:${p.containerPort}${p.protocol === 'udp' ? '/udp' : ''}`;
}

function deviceSpec(d: DeviceSpec): string {
  return `${d.host}:${d.container ?? d.host}:${d.permissions ?? 'rwm'}`;
}

function tmpfsSpec(t: TmpfsSpec): string {
  const opts = ['rw', ...(t.size ? [`size=${iecBytes(t.size)}`] : []), ...(t.mode ? [`mode=${t.mode}`] : [])];
  return `${t.target}:${opts.join(',')}`;
}

function secretFileSpec(podmanSecret: string | undefined, f: SecretFileSpec): string {
  const mode = (f.mode ?? '0400').padStart(4, '0');
  return `${podmanSecret},type=mount,target=${f.target},uid=${f.uid ?? 0},gid=${f.gid ?? 0},mode=${mode}`;
}

function volumeSpec(source: string, m: VolumeMountSpec | BindMountSpec): string {
  const opts = [m.readOnly ? 'ro' : 'rw', ...(m.chown ? ['U'] : []), ...selinuxOpt(m.selinux)];
  return `${source}:${m.target}:${opts.join(',')}`;
}

function selinuxOpt(label: SelinuxLabel | undefined): string[] {
  return label === 'shared' ? ['z'] : label === 'private' ? ['Z'] : [];
}

function bindSource(b: BindMountSpec, dataDir: string): string {
  return hostPath(b.source, dataDir);
}

/** A host path of the manifest: absolute as written, else relative to `dir`. */
function hostPath(path: string, dir: string): string {
  return path.startsWith('/') ? normalizePath(path) : joinPath(dir, path);
}

/**
 * What a template's output is made from: its text, the Podman ids of the secrets it reads
 * and the facts it puts in (values, not secrets), hashed as the key of its inputs. The output
 * itself is made by the supervisor's adapter, which alone reads secrets.
 */
export function templateInput(
  ctx: ContainerContext,
  path: string,
): { key: string; secrets: Record<string, string>; facts: Record<string, string> } {
  const text = ctx.app.templateTexts?.[path];
  if (text === undefined) throw new LinkError(`template ${path} was not loaded`);
  const parsed = parseTemplate(text);
  if (!parsed.ok)
    throw new LinkError(`template ${path}: line ${parsed.problems[0]!.line}: ${parsed.problems[0]!.message}`);
  const secrets: Record<string, string> = {};
  const ids: Record<string, string> = {};
  for (const ref of templateSecretRefs(parsed.parts)) {
    const name = secretName(ctx, ref);
    if (name === undefined) throw new LinkError(`template ${path} reads ${ref}, and no installed app provides it`);
    secrets[ref] = name;
    const r = parseRef(ref);
    // Both maps are keyed by Podman secret name (see graph/app-graph.ts linksOf).
    ids[ref] = ('own' in r ? ctx.options.links?.ownSecretIds?.[name] : providerOf(ctx, r.iface)?.secretIds[name]) ?? '';
  }
  const facts = Object.fromEntries(templateFactRefs(parsed.parts).map((f) => [f, factsOf(ctx.options)(f)]));
  const key = sha256(JSON.stringify({ text, ids, facts }));
  return { key, secrets, facts };
}

function capName(cap: string): string {
  return cap.startsWith('CAP_') ? cap : `CAP_${cap}`;
}

function joinPath(dir: string, rel: string): string {
  return normalizePath(rel === '.' || rel === '' ? dir : `${dir}/${rel}`);
}

function normalizePath(p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  return `/${parts.join('/')}`;
}
