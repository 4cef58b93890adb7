import { join, resolve } from 'node:path';
import type { ConfigKey, ResolvedConfig } from './config/node-config.js';
import { NODE_NETWORK, NODE_NETWORK_SUBNET } from './names.js';

/** Where archy-quadlet reads and writes, from the environment (XDG base directories) and the node's configuration. */
export interface Paths {
  /** Catalog of manifests: --apps > ARCHY_QUADLET_APPS > the configuration's catalog > bundled apps/. */
  appsDir: string;
  /** Our own subdirectory of Quadlet's user unit directory; one subdirectory per app below it. */
  unitRoot: string;
  stateDir: string;
  /** Root of the apps' data directories (<dataRoot>/<app>): the configuration's, else under XDG data. */
  dataRoot: string;
  /** The node network that links apps (default archy-node, 10.89.254.0/24). */
  nodeNetwork?: { name: string; subnet: string };
  /**
   * The catalog an entry point started with no --apps and no $ARCHY_QUADLET_APPS reads (the
   * timer, the watcher, the boot hook): the configuration's, else the bundled one.
   */
  configuredCatalog?: string;
  /** Where each setting came from: `--apps`, `$ARCHY_QUADLET_APPS`, a configuration file, or `default`. */
  origins?: Record<ConfigKey, string>;
}

export interface PathInputs {
  env: Record<string, string | undefined>;
  home: string;
  bundledAppsDir: string;
  appsOption?: string | undefined;
  /** The node's configuration files as read (see config/node-config.ts); none when absent. */
  config?: ResolvedConfig;
}

/** Pure but for the working directory, against which a relative catalog path is resolved. */
export function resolvePaths({ env, home, bundledAppsDir, appsOption, config }: PathInputs): Paths {
  const abs = (v: string | undefined) => (v?.startsWith('/') ? v : undefined); // XDG: relative values are ignored
  const configHome = abs(env.XDG_CONFIG_HOME) ?? join(home, '.config');
  const stateHome = abs(env.XDG_STATE_HOME) ?? join(home, '.local', 'state');
  const dataHome = abs(env.XDG_DATA_HOME) ?? join(home, '.local', 'share');
  const v = config?.values ?? {};
  const from = (key: ConfigKey) => config?.sources[key] ?? 'default';
  const [appsDir, appsOrigin] =
    appsOption !== undefined
      ? [appsOption, '--apps']
      : env.ARCHY_QUADLET_APPS
        ? [env.ARCHY_QUADLET_APPS, '$ARCHY_QUADLET_APPS']
        : v.catalog
          ? [v.catalog, from('catalog')]
          : [bundledAppsDir, 'default'];
  return {
    // Absolute: units name files in it (build contexts, environment files) as absolute paths.
    appsDir: resolve(appsDir),
    configuredCatalog: resolve(v.catalog ?? bundledAppsDir),
    unitRoot: join(configHome, 'containers', 'systemd', 'archy-quadlet'),
    stateDir: join(stateHome, 'archy-quadlet'),
    dataRoot: v.dataRoot ?? join(dataHome, 'archy-quadlet', 'data'),
    nodeNetwork: {
      name: v['nodeNetwork.name'] ?? NODE_NETWORK,
      subnet: v['nodeNetwork.subnet'] ?? NODE_NETWORK_SUBNET,
    },
    origins: {
      catalog: appsOrigin,
      dataRoot: from('dataRoot'),
      'nodeNetwork.name': from('nodeNetwork.name'),
      'nodeNetwork.subnet': from('nodeNetwork.subnet'),
    },
  };
}

export function appDataDir(paths: Paths, appId: string): string {
  return join(paths.dataRoot, appId);
}
