import type { ContainerSpec, Manifest, NetworkMode } from './types.js';
import { durationMs } from './measures.js';
import { containerUnitBase } from '../names.js';

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
  containerName: string;
  build?: { unitBase: string; service: string; imageTag: string };
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
  const containers = m.containers.map((spec): ContainerPlan => {
    const unitBase = baseOf(spec.name);
    const deps = Object.entries(spec.dependsOn ?? {}).sort(([a], [b]) => a.localeCompare(b));
    return {
      spec,
      unitBase,
      service: `${unitBase}.service`,
      containerName: unitBase,
      ...(spec.build
        ? {
            build: {
              unitBase,
              service: `${unitBase}-build.service`,
              imageTag: `localhost/archy/${unitBase}:${m.version}`,
            },
          }
        : {}),
      stopTimeoutSec: Math.ceil(durationMs(spec.stopTimeout ?? DEFAULT_STOP_TIMEOUT_MS / 1000) / 1000),
      startTimeoutSec: Math.ceil(durationMs(spec.startTimeout ?? DEFAULT_START_TIMEOUT_MS / 1000) / 1000),
      hard: deps.filter(([, k]) => k === 'hard').map(([n]) => `${baseOf(n)}.service`),
      soft: deps.filter(([, k]) => k === 'soft').map(([n]) => `${baseOf(n)}.service`),
    };
  });
  return { id: m.id, manifest: m, network, names, containers };
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
