import { isIP } from 'node:net';
import type { ContainerSpec, FieldPath, Manifest } from './types.js';
import { durationMs, iecBytes } from './measures.js';
import { parseRef } from '../graph/interface-ref.js';
import { NODE_NETWORK } from '../names.js';
import { initContainersOf } from './app-spec.js';
import { factRefs, isNodeFact, NODE_FACTS } from '../graph/node-facts.js';

/** A problem the schema cannot express: references, clashes, cycles, limits. */
export interface SemanticProblem {
  path: FieldPath;
  at?: 'key' | 'value';
  message: string;
}

const MIN_MEMORY = 6 * 2 ** 20; // podman refuses limits under 6 MiB
const MAX_DURATION_MS = 24 * 3_600_000;
const RESERVED_LABEL_PREFIX = 'io.archipelago.';

/** Checks that need the whole manifest. `expectedId` is the app's folder name. */
export function checkManifestSemantics(m: Manifest, expectedId?: string): SemanticProblem[] {
  const problems: SemanticProblem[] = [];
  const add = (path: FieldPath, message: string, at?: 'key' | 'value') =>
    problems.push({ path, message, ...(at ? { at } : {}) });

  if (m.id === NODE_NETWORK) add(['id'], `"${NODE_NETWORK}" is reserved for the node network`);
  if (expectedId !== undefined && m.id !== expectedId) {
    add(['id'], `must equal the app's folder name "${expectedId}"`);
  }
  const network = m.network ?? (m.containers.length > 1 ? 'private' : 'default');
  const names = new Map<string, number>();
  m.containers.forEach((c, i) => {
    const first = names.get(c.name);
    if (first !== undefined)
      add(['containers', i, 'name'], `container name "${c.name}" is already used by containers[${first}]`);
    else names.set(c.name, i);
  });
  const exported = (kind: 'secrets' | 'volumes', name: string) =>
    Object.values(m.provides ?? {}).some((p) => p[kind]?.includes(name));
  for (const vol of Object.keys(m.volumes ?? {})) {
    if (!exported('volumes', vol) && !m.containers.some((c) => c.volumes?.some((v) => v.volume === vol))) {
      add(['volumes', vol], `volume "${vol}" is declared but no container mounts it`, 'key');
    }
  }
  for (const secret of Object.keys(m.secrets ?? {})) {
    const used = m.containers.some(
      (c) =>
        Object.values(c.secretEnvironment ?? {}).includes(secret) || c.secretFiles?.some((f) => f.secret === secret),
    );
    // A template may read it (checked against the template's text when the catalog is loaded).
    const templated = m.containers.some((c) => (c.templates?.length ?? 0) > 0);
    if (!used && !templated && !exported('secrets', secret))
      add(['secrets', secret], `secret "${secret}" is declared but no container uses it`, 'key');
  }

  const published: Array<{ ip: string | undefined; port: number; proto: string; where: string }> = [];
  const aliases = new Map<string, string>();
  m.containers.forEach((c, i) => {
    const at = (...rest: Array<string | number>): FieldPath => ['containers', i, ...rest];
    checkContainer(c, m, network, at, add);
    c.ports?.forEach((p, j) => {
      if (typeof p.hostIp === 'string' && /^[0-9A-Fa-f:.]+$/.test(p.hostIp) && isIP(p.hostIp) === 0)
        add(at('ports', j, 'hostIp'), 'must be an IPv4 or IPv6 address');
      const port = p.hostPort ?? p.containerPort;
      const proto = p.protocol ?? 'tcp';
      const clash = published.find(
        (q) => q.port === port && q.proto === proto && (!q.ip || !p.hostIp || q.ip === p.hostIp),
      );
      if (clash) add(at('ports', j), `host port ${port}/${proto} is already published by ${clash.where}`);
      else published.push({ ip: p.hostIp, port, proto, where: `containers[${i}].ports[${j}]` });
    });
    c.networkAliases?.forEach((alias, j) => {
      const owner = names.get(alias);
      if (owner !== undefined && owner !== i)
        add(at('networkAliases', j), `alias "${alias}" is the name of containers[${owner}]`);
      else if (aliases.has(alias))
        add(at('networkAliases', j), `alias "${alias}" is already used by ${aliases.get(alias)}`);
      else aliases.set(alias, `containers[${i}]`);
    });
  });
  checkDependencyCycles(m, add);
  checkHooks(m, add);
  checkInterfaces(m, network, names, add);
  checkNodeFacts(m, add);
  for (const path of loneSurrogates(m, [])) add(path, 'contains an unpaired UTF-16 surrogate (not valid text)');
  return problems;
}

function checkContainer(
  c: ContainerSpec,
  m: Manifest,
  network: string,
  at: (...rest: Array<string | number>) => FieldPath,
  add: (path: FieldPath, message: string, at?: 'key' | 'value') => void,
): void {
  if ((c.image === undefined) === (c.build === undefined)) {
    add(at(), c.image === undefined ? 'needs either "image" or "build"' : 'has both "image" and "build": choose one');
  }
  if (c.build && c.pull !== undefined) add(at('pull'), 'does not apply to a locally built image');
  if (c.build) {
    for (const [field, value] of [
      ['context', c.build.context],
      ['containerfile', c.build.containerfile],
    ] as const) {
      if (value?.split('/').includes('..')) add(at('build', field), 'must stay inside the app\'s folder (no "..")');
    }
  }
  const own = c.network ?? network;
  if ((own === 'host' || own === 'none') && (c.ports?.length ?? 0) > 0) {
    add(at('ports'), `cannot publish ports with network: ${own}`);
  }
  if (c.network !== undefined && (c.networkAliases?.length ?? 0) > 0)
    add(at('networkAliases'), `cannot have aliases with network: ${c.network} (aliases live on the app's own network)`);
  else if (network !== 'private' && (c.networkAliases?.length ?? 0) > 0) {
    add(at('networkAliases'), "needs network: private (aliases live on the app's own network)");
  }
  const refProblem = (ref: string, kind: 'secret' | 'volume') => referenceProblem(m, c, ref, kind);
  for (const [env, secret] of Object.entries(c.secretEnvironment ?? {})) {
    const problem = refProblem(secret, 'secret');
    if (problem) add(at('secretEnvironment', env), problem);
    if (c.environment && env in c.environment)
      add(at('secretEnvironment', env), `"${env}" is also set under environment`, 'key');
  }
  c.secretFiles?.forEach((f, j) => {
    const problem = refProblem(f.secret, 'secret');
    if (problem) add(at('secretFiles', j, 'secret'), problem);
  });
  c.volumes?.forEach((v, j) => {
    const problem = refProblem(v.volume, 'volume');
    if (problem) add(at('volumes', j, 'volume'), problem);
    else if ('iface' in parseRef(v.volume)) {
      // Another app's data: read, never written, never chowned to this container's user.
      if (v.readOnly === false) add(at('volumes', j, 'readOnly'), "a provider's volume is always mounted read-only");
      if (v.chown) add(at('volumes', j, 'chown'), "must not chown a provider's volume (it is another app's data)");
      if (v.selinux === 'private')
        add(at('volumes', j, 'selinux'), "must not relabel a provider's volume private (its own app would lose it)");
    }
  });
  c.binds?.forEach((b, j) => {
    const segments = b.source.split('/');
    if (segments.includes('..')) add(at('binds', j, 'source'), 'must not contain ".." (path traversal)');
    else if (b.source === '/' || /^\/+$/.test(b.source))
      add(at('binds', j, 'source'), "must not be the host's root directory");
    // A file bind names a file: a source that can only be a directory would be mounted as one.
    else if (b.type === 'file' && (b.source.endsWith('/') || segments[segments.length - 1] === '.'))
      add(at('binds', j, 'source'), 'names a directory (it ends in "/" or "."): a bind of type file names a file');
  });
  if (c.oneshot) {
    // Run to completion, once per start of the app: nothing to check, restart or reach.
    if (c.healthcheck) add(at('healthcheck'), 'an init container (oneshot) has no health check: it runs to completion');
    if (c.restart !== undefined)
      add(at('restart'), 'an init container (oneshot) is not restarted: a failed run is retried with backoff');
    if ((c.ports?.length ?? 0) > 0) add(at('ports'), 'an init container (oneshot) publishes no ports');
  }
  c.environmentFiles?.forEach((f, j) => {
    if (f.split('/').includes('..')) add(at('environmentFiles', j), 'must not contain ".." (path traversal)');
  });
  c.templates?.forEach((t, j) => {
    if (t.template.split('/').includes('..'))
      add(at('templates', j, 'template'), 'must stay inside the app\'s folder (no "..")');
  });
  const targets = new Map<string, string>();
  const claim = (target: string, where: FieldPath, label: string) => {
    const norm = target.replace(/\/+$/, '') || '/';
    if (targets.has(norm)) add(where, `mount point ${norm} is already used by ${targets.get(norm)}`);
    else targets.set(norm, label);
  };
  for (const [j, v] of (c.volumes ?? []).entries()) claim(v.target, at('volumes', j, 'target'), `volumes[${j}]`);
  for (const [j, b] of (c.binds ?? []).entries()) claim(b.target, at('binds', j, 'target'), `binds[${j}]`);
  for (const [j, t] of (c.tmpfs ?? []).entries()) claim(t.target, at('tmpfs', j, 'target'), `tmpfs[${j}]`);
  for (const [j, f] of (c.secretFiles ?? []).entries())
    claim(f.target, at('secretFiles', j, 'target'), `secretFiles[${j}]`);
  for (const [j, t] of (c.templates ?? []).entries()) claim(t.target, at('templates', j, 'target'), `templates[${j}]`);

  if (typeof c.memory === 'string' && /^[0-9]+(Ki|Mi|Gi|Ti)$/.test(c.memory) && iecBytes(c.memory) < MIN_MEMORY)
    add(at('memory'), "must be at least 6Mi (Podman's minimum)");
  checkHostsAndLimits(c, at, add);
  if (c.capabilities?.drop && !c.capabilities.podmanDefaults) {
    add(at('capabilities', 'drop'), 'only applies with podmanDefaults: true (every capability is dropped by default)');
  }
  for (const [k] of Object.entries(c.labels ?? {})) {
    if (k.startsWith(RESERVED_LABEL_PREFIX))
      add(at('labels', k), `label keys starting with "${RESERVED_LABEL_PREFIX}" are reserved for archy-quadlet`, 'key');
  }
  const h = c.healthcheck;
  if (h && Array.isArray(h.command) && /^(CMD|CMD-SHELL|NONE)$/i.test(String(h.command[0]))) {
    add(
      at('healthcheck', 'command', 0),
      `list the program itself, not "${h.command[0]}" (a string is already run by /bin/sh -c)`,
    );
  }
  if (h) {
    const kinds = (['command', 'http', 'tcp'] as const).filter((k) => h[k] !== undefined);
    if (kinds.length !== 1) {
      add(
        at('healthcheck'),
        kinds.length === 0 ? 'needs one of "command", "http" or "tcp"' : `has ${kinds.join(' and ')}: choose one`,
      );
    }
    if (h.interval !== undefined && durationMs(h.interval) < 1000)
      add(at('healthcheck', 'interval'), 'must be at least 1s');
    if (h.timeout !== undefined && durationMs(h.timeout) < 1000)
      add(at('healthcheck', 'timeout'), 'must be at least 1s');
  }
  const durations: Array<[FieldPath, unknown]> = [
    [at('stopTimeout'), c.stopTimeout],
    [at('startTimeout'), c.startTimeout],
    [at('healthcheck', 'interval'), h?.interval],
    [at('healthcheck', 'timeout'), h?.timeout],
    [at('healthcheck', 'startPeriod'), h?.startPeriod],
  ];
  for (const [path, d] of durations) {
    if (d !== undefined && durationMs(d as string | number) > MAX_DURATION_MS) add(path, 'must be at most 24h');
  }
  if (c.startTimeout !== undefined && durationMs(c.startTimeout) < 1000) add(at('startTimeout'), 'must be at least 1s');
  for (const dep of Object.keys(c.dependsOn ?? {})) {
    if (dep === c.name) add(at('dependsOn', dep), 'a container cannot depend on itself', 'key');
    else if (!m.containers.some((o) => o.name === dep))
      add(at('dependsOn', dep), `no container named "${dep}" in this app`, 'key');
  }
}

/** What is wrong with a container's reference to a secret or volume (own, or <interface>.<name>); undefined when nothing. */
export function referenceProblem(
  m: Manifest,
  c: ContainerSpec,
  ref: string,
  kind: 'secret' | 'volume',
): string | undefined {
  const r = parseRef(ref);
  if ('iface' in r) {
    const need = m.requires?.[r.iface];
    if (!need)
      return `"${ref}" names interface "${r.iface}", which this app does not require (add requires: ${r.iface})`;
    if (need.containers && !need.containers.includes(c.name))
      return `"${ref}": container "${c.name}" is not linked to ${r.iface} (add it to requires.${r.iface}.containers)`;
    return undefined;
  }
  const declared = kind === 'secret' ? m.secrets?.[r.own] : m.volumes?.[r.own];
  return declared ? undefined : `${kind} "${r.own}" is not declared under ${kind}s`;
}

/** extraHosts and ulimits: what their patterns cannot say. Tolerates fields of the wrong type (the schema reports them). */
function checkHostsAndLimits(
  c: ContainerSpec,
  at: (...rest: Array<string | number>) => FieldPath,
  add: (path: FieldPath, message: string, at?: 'key' | 'value') => void,
): void {
  const hosts = new Map<string, string>();
  for (const [host, ip] of Object.entries(c.extraHosts ?? {})) {
    if (typeof ip === 'string' && /^[0-9A-Fa-f:.]+$/.test(ip) && isIP(ip) === 0)
      add(at('extraHosts', host), 'must be an IPv4 or IPv6 address, or host-gateway');
    // /etc/hosts is read case-insensitively: the second line would never be used.
    const folded = host.toLowerCase();
    if (hosts.has(folded))
      add(
        at('extraHosts', host),
        `"${host}" is already listed as "${hosts.get(folded)}" (host names ignore case)`,
        'key',
      );
    else hosts.set(folded, host);
  }
  for (const [name, limit] of Object.entries(c.ulimits ?? {})) {
    if (limit === null || typeof limit !== 'object') continue;
    const { soft, hard } = limit;
    if (typeof soft !== 'number' || typeof hard !== 'number' || hard === -1) continue;
    // -1 is the most the Podman process may set: above any other hard limit.
    if (soft === -1 || soft > hard)
      add(
        at('ulimits', name, 'soft'),
        `must not be above the hard limit (${hard})${soft === -1 ? ': -1 is the most Podman may set' : ''}`,
      );
  }
}

/** provides and requires: what only this manifest can tell (the catalog checks the rest). */
function checkInterfaces(
  m: Manifest,
  network: string,
  names: Map<string, number>,
  add: (path: FieldPath, message: string, at?: 'key' | 'value') => void,
): void {
  const linked = Object.keys(m.provides ?? {}).length + Object.keys(m.requires ?? {}).length > 0;
  if (linked && (network === 'host' || network === 'none'))
    add(
      ['network'],
      `cannot be ${network} for an app that provides or requires an interface (the node network links apps)`,
    );
  for (const [iface, p] of Object.entries(m.provides ?? {})) {
    const served = m.containers[names.get(p.container) ?? -1];
    if (!served) add(['provides', iface, 'container'], `no container named "${p.container}" in this app`);
    else if (served.oneshot)
      add(['provides', iface, 'container'], `"${p.container}" is an init container (oneshot): it serves nothing`);
    else if (served.network)
      add(
        ['provides', iface, 'container'],
        `"${p.container}" has network: ${served.network}: it cannot join the node network that links apps`,
      );
    p.secrets?.forEach((s, i) => {
      if (!m.secrets?.[s]) add(['provides', iface, 'secrets', i], `secret "${s}" is not declared under secrets`);
    });
    p.volumes?.forEach((v, i) => {
      if (!m.volumes?.[v]) add(['provides', iface, 'volumes', i], `volume "${v}" is not declared under volumes`);
      // A private label (:Z) would keep the dependents that mount it out.
      for (const [ci, c] of m.containers.entries())
        for (const [mi, mount] of (c.volumes ?? []).entries())
          if (mount.volume === v && mount.selinux === 'private')
            add(
              ['containers', ci, 'volumes', mi, 'selinux'],
              `volume "${v}" is exported (provides.${iface}.volumes): it must not be labelled private`,
            );
    });
    if (m.requires?.[iface]) add(['requires', iface], `the app provides "${iface}" itself`, 'key');
  }
  for (const [iface, r] of Object.entries(m.requires ?? {})) {
    r.containers?.forEach((c, i) => {
      if (!names.has(c)) add(['requires', iface, 'containers', i], `no container named "${c}" in this app`);
    });
    // A container on the host network (or none) cannot reach the provider on the node network.
    for (const [i, c] of m.containers.entries())
      if (c.network && (!r.containers || r.containers.includes(c.name)))
        add(
          ['containers', i, 'network'],
          `a container with network: ${c.network} cannot use ${iface} (the node network links apps)` +
            (r.containers ? '' : `: list the containers that use it under requires.${iface}.containers`),
        );
  }
}

/** `{{node.<fact>}}` in environment values, commands and entrypoints must name a known fact. */
function checkNodeFacts(m: Manifest, add: (path: FieldPath, message: string, at?: 'key' | 'value') => void): void {
  const known = Object.keys(NODE_FACTS).join(', ');
  const check = (path: FieldPath, value: unknown) => {
    if (typeof value !== 'string') return;
    for (const name of factRefs(value))
      if (!isNodeFact(name)) add(path, `unknown node fact "node.${name}" (known: ${known})`);
  };
  m.containers.forEach((c, i) => {
    const h = c.healthcheck?.command;
    for (const [j, v] of (Array.isArray(h) ? h : h === undefined ? [] : [h]).entries())
      if (typeof v === 'string' && factRefs(v).length > 0)
        add(
          ['containers', i, 'healthcheck', 'command', ...(Array.isArray(h) ? [j] : [])],
          'node facts are put into environment values, command and entrypoint only (a health check can read them from the environment)',
        );
    for (const [k, v] of Object.entries(c.environment ?? {})) check(['containers', i, 'environment', k], v);
    for (const [j, a] of (c.command ?? []).entries()) check(['containers', i, 'command', j], a);
    for (const [j, a] of (c.entrypoint ?? []).entries()) check(['containers', i, 'entrypoint', j], a);
  });
}

/** Hooks run in a running container of the app: one that exists and keeps running. */
function checkHooks(m: Manifest, add: (path: FieldPath, message: string, at?: 'key' | 'value') => void): void {
  for (const [point, h] of Object.entries(m.hooks ?? {})) {
    if (!h || typeof h !== 'object') continue;
    const c = m.containers.find((x) => x.name === h.container);
    if (!c) add(['hooks', point, 'container'], `no container named "${h.container}" in this app`);
    else if (c.oneshot)
      add(
        ['hooks', point, 'container'],
        `"${h.container}" is an init container (oneshot): a hook runs in a container that keeps running`,
      );
    if (h.timeout !== undefined) {
      const ms = durationMs(h.timeout);
      if (ms < 1000) add(['hooks', point, 'timeout'], 'must be at least 1s');
      else if (ms > MAX_DURATION_MS) add(['hooks', point, 'timeout'], 'must be at most 24h');
    }
    if (Array.isArray(h.command) && factRefs(h.command.join(' ')).length > 0)
      add(['hooks', point, 'command'], 'node facts are not put into hooks (read them from the environment)');
  }
}

function checkDependencyCycles(
  m: Manifest,
  add: (path: FieldPath, message: string, at?: 'key' | 'value') => void,
): void {
  const index = new Map(m.containers.map((c, i) => [c.name, i]));
  // With the init containers each container requires without saying so: two init containers
  // that need different containers can close a loop no dependsOn shows.
  const implicit = initContainersOf(m);
  const depsOf = (c: ContainerSpec) => [
    ...new Set([...Object.keys(c.dependsOn ?? {}), ...Object.keys(implicit.get(c.name) ?? {})]),
  ];
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      const key = [...cycle].slice(0, -1).sort().join(',');
      if (!reported.has(key)) {
        reported.add(key);
        const viaInit = cycle.some((n) => m.containers[index.get(n)!]?.oneshot === true)
          ? ' (each container requires the init containers that do not depend on it)'
          : '';
        add(['containers', index.get(name)!, 'dependsOn'], `dependency cycle: ${cycle.join(' → ')}${viaInit}`);
      }
      return;
    }
    state.set(name, 'visiting');
    const c = m.containers[index.get(name)!]!;
    for (const dep of depsOf(c)) if (index.has(dep) && dep !== name) visit(dep, [...trail, name]);
    state.set(name, 'done');
  };
  for (const c of m.containers) visit(c.name, []);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Most strings have no surrogate at all: this plain class is much cheaper than the lookarounds.
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const hasLoneSurrogate = (s: string) => ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s);

/** Paths of strings (keys or values) that are not well-formed text: YAML "\ud800" escapes make them. */
function loneSurrogates(value: unknown, path: Array<string | number>): FieldPath[] {
  // A path is copied only for a string found wanting: the walk itself allocates nothing.
  const found: FieldPath[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') {
      if (hasLoneSurrogate(v)) found.push([...path]);
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        path.push(i);
        walk(v[i]);
        path.pop();
      }
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        path.push(k);
        if (hasLoneSurrogate(k)) found.push([...path]);
        else walk(x);
        path.pop();
      }
    }
  };
  walk(value);
  return found;
}
