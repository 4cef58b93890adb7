// The naming rules, in one place: what an app id is, and how Quadlet names the units it
// generates from our files. Pure.

/** An app id: a DNS label of at most 40 characters (the schema's `id` pattern says the same). */
export const APP_ID_PATTERN = /^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$/;

const LABEL = APP_ID_PATTERN.source.slice(1, -1);
/** A secret or volume a container names: its app's own (`rpc-password`) or a provider's (`bitcoind.rpc-password`). */
export const NAME_REF_PATTERN = new RegExp(`^${LABEL}(?:\\.${LABEL})?$`);

export function isAppId(s: string): boolean {
  return APP_ID_PATTERN.test(s);
}

/** Base of a container's unit file name: `<id>` for the container named like the app, else `<id>-<name>`. */
export function containerUnitBase(appId: string, containerName: string): string {
  return containerName === appId ? appId : `${appId}-${containerName}`;
}

const UNIT_FILE = /^(.+)\.(container|network|volume|build)$/;

/** The systemd service Quadlet generates from one of our unit files (`x.volume` → `x-volume.service`). */
export function serviceOfUnitFile(name: string): string | undefined {
  const m = UNIT_FILE.exec(name);
  if (!m) return undefined;
  return m[2] === 'container' ? `${m[1]}.service` : `${m[1]}-${m[2]}.service`;
}

/** The services of a list of unit files, in their order; other files are skipped. */
export function servicesOfUnitFiles(files: Array<{ name: string }>): string[] {
  return files.map((f) => serviceOfUnitFile(f.name)).filter((s): s is string => s !== undefined);
}

/** Whether a service is generated from a `.network`, `.volume` or `.build` file rather than a container. */
export function isSupportService(service: string): boolean {
  return /-(network|volume|build)\.service$/.test(service);
}

/**
 * The node network that links apps (`provides`/`requires`): its unit base and Podman name.
 * No app may have this id (its private network would have the same unit name).
 */
export const NODE_NETWORK = 'archy-node';
/** Its subnet: fixed, so that a provider can allow exactly it (bitcoind's -rpcallowip). */
export const NODE_NETWORK_SUBNET = '10.89.254.0/24';
/** The directory of node-level units under the unit root: not an app id, so never taken for an app. */
export const NODE_UNITS_DIR = '_node';

/** Where the images built from apps' local build contexts are tagged (`localhost/archy/<unit>:<version>`). */
export const LOCAL_BUILD_PREFIX = 'localhost/archy/';
