import { createHash } from 'node:crypto';
import type { ContainerSpec, Manifest, NetworkMode, TemplateFileSpec } from './types.js';
import { durationMs } from './measures.js';
import { containerUnitBase, LOCAL_BUILD_PREFIX } from '../names.js';

/**
 * A validated manifest with every default resolved and every name derived: what the
 * renderer and the supervisor work from. Plain data.
 */
export interface AppSpec {
  id: string;
  manifest: Manifest;
  network: NetworkMode;
  /** Unit base names (without suffix) and runtime names of everything the app owns. */
  names: AppNames;
  containers: ContainerPlan[];
  /** Texts of its templates (`containers[].templates`) by path, read with the manifest from the app's folder. */
  templateTexts?: Record<string, string>;
}

export interface AppNames {
  /** `<id>.network` when the network is private. */
  networkUnit?: string;
  networkName?: string;
  volumes: Record<string, { unit: string; name: string }>;
  secrets: Record<string, string>;
}

export interface ContainerPlan {
  spec: ContainerSpec;
  /** Base of the unit file name: `<id>` for the container named like the app, else `<id>-<name>`. */
  unitBase: string;
  /** The systemd service Quadlet generates: `<unitBase>.service`. */
  service: string;
  /** The Podman container's name: the manifest's containerName, else the unit base. */
  containerName: string;
  build?: { unitBase: string; service: string; imageTag: string };
  /** An init container: runs to completion before the others start (Type=oneshot). */
  oneshot: boolean;
  /** Its network: the container's own (host, none) or the app's. */
  network: NetworkMode;
  /** Its config files rendered from templates, each kept as the Podman secret named here. */
  templates: Array<{ spec: TemplateFileSpec; secret: string }>;
  stopTimeoutSec: number;
  startTimeoutSec: number;
  hard: string[];
  soft: string[];
}

export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
export const DEFAULT_START_TIMEOUT_MS = 15 * 60_000;

export function toAppSpec(m: Manifest): AppSpec {
  const network: NetworkMode = m.network ?? (m.containers.length > 1 ? 'private' : 'default');
  const names: AppNames = {
    ...(network === 'private' ? { networkUnit: m.id, networkName: m.id } : {}),
    volumes: Object.fromEntries(
      Object.keys(m.volumes ?? {}).map((v) => [v, { unit: `${m.id}-${v}`, name: `${m.id}-${v}` }]),
    ),
    secrets: Object.fromEntries(Object.keys(m.secrets ?? {}).map((s) => [s, `${m.id}-${s}`])),
  };
  const baseOf = (name: string) => containerUnitBase(m.id, name);
  const initContainers = initContainersOf(m);
  const containers = m.containers.map((spec): ContainerPlan => {
    const unitBase = baseOf(spec.name);
    // Code-point order, which is localeCompare's for container names ([a-z0-9-]): a process's
    // first localeCompare loads ICU's collation, some 14 ms of a `validate` (issue 15).
    const deps = Object.entries({ ...initContainers.get(spec.name), ...spec.dependsOn }).sort(([a], [b]) =>
      a < b ? -1 : a > b ? 1 : 0,
    );
    return {
      spec,
      unitBase,
      service: `${unitBase}.service`,
      containerName: spec.containerName ?? unitBase,
      ...(spec.build
        ? {
            build: {
              unitBase,
              service: `${unitBase}-build.service`,
              imageTag: `${LOCAL_BUILD_PREFIX}${unitBase}:${m.version}`,
            },
          }
        : {}),
      oneshot: spec.oneshot === true,
      network: spec.network ?? network,
      templates: (spec.templates ?? []).map((t) => ({ spec: t, secret: templateSecretName(unitBase, t.target) })),
      stopTimeoutSec: Math.ceil(durationMs(spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT_MS / 1000) / 1000),
      startTimeoutSec: Math.ceil(durationMs(spec.startTimeout ?? DEFAULT_START_TIMEOUT_MS / 1000) / 1000),
      hard: deps.filter(([, k]) => k === 'hard').map(([n]) => `${baseOf(n)}.service`),
      soft: deps.filter(([, k]) => k === 'soft').map(([n]) => `${baseOf(n)}.service`),
    };
  });
  return { id: m.id, manifest: m, network, names, containers };
}

/**
 * The init containers (oneshot) each container requires, as dependsOn entries: every one, but
 * those that depend on the container themselves, all the way down (a migration that needs the
 * database must not be required by the database). The manifest's own dependsOn wins.
 */
export function initContainersOf(m: Manifest): Map<string, Record<string, 'hard'>> {
  const byName = new Map(m.containers.map((c) => [c.name, c]));
  const closure = (name: string, seen = new Set<string>()): Set<string> => {
    for (const dep of Object.keys(byName.get(name)?.dependsOn ?? {}))
      if (!seen.has(dep) && byName.has(dep)) {
        seen.add(dep);
        closure(dep, seen);
      }
    return seen;
  };
  const inits = m.containers.filter((c) => c.oneshot === true).map((c) => ({ name: c.name, needs: closure(c.name) }));
  return new Map(
    m.containers.map((c) => [
      c.name,
      Object.fromEntries(
        inits
          .filter((i) => i.name !== c.name && !i.needs.has(c.name) && !(c.oneshot === true))
          .map((i) => [i.name, 'hard' as const]),
      ),
    ]),
  );
}

/** Paths of the app's templates in its folder, each once: the files `templateTexts` holds. */
export function templatePaths(app: AppSpec): string[] {
  return [...new Set(app.manifest.containers.flatMap((c) => (c.templates ?? []).map((t) => t.template)))].sort();
}

/** The Podman secret a rendered template is kept in: named by the container and the target, stable across edits. */
export function templateSecretName(unitBase: string, target: string): string {
  return `${unitBase}-tmpl-${createHash('sha256').update(target).digest('hex').slice(0, 8)}`;
}

/** Every systemd unit the app's Quadlet files generate, in start order (networks, volumes, builds, containers). */
export function serviceNames(app: AppSpec): string[] {
  return [
    ...(app.names.networkUnit ? [`${app.names.networkUnit}-network.service`] : []),
    ...Object.values(app.names.volumes).map((v) => `${v.unit}-volume.service`),
    ...app.containers.flatMap((c) => (c.build ? [c.build.service] : [])),
    ...app.containers.map((c) => c.service),
  ];
}
