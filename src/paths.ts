import { join, resolve } from 'node:path';

/** Where archy-quadlet reads and writes, from the environment (XDG base directories). */
export interface Paths {
  /** Bundled or chosen catalog of manifests: --apps > ARCHY_QUADLET_APPS > bundled apps/. */
  appsDir: string;
  /** Our own subdirectory of Quadlet's user unit directory; one subdirectory per app below it. */
  unitRoot: string;
  stateDir: string;
  dataRoot: string;
}

export interface PathInputs {
  env: Record<string, string | undefined>;
  home: string;
  bundledAppsDir: string;
  appsOption?: string | undefined;
}

/** Pure but for the working directory, against which a relative catalog path is resolved. */
export function resolvePaths({ env, home, bundledAppsDir, appsOption }: PathInputs): Paths {
  const abs = (v: string | undefined) => (v?.startsWith('/') ? v : undefined); // XDG: relative values are ignored
  const configHome = abs(env.XDG_CONFIG_HOME) ?? join(home, '.config');
  const stateHome = abs(env.XDG_STATE_HOME) ?? join(home, '.local', 'state');
  const dataHome = abs(env.XDG_DATA_HOME) ?? join(home, '.local', 'share');
  return {
    // Absolute: units name files in it (build contexts, environment files) as absolute paths.
    appsDir: resolve(appsOption ?? (env.ARCHY_QUADLET_APPS || bundledAppsDir)),
    unitRoot: join(configHome, 'containers', 'systemd', 'archy-quadlet'),
    stateDir: join(stateHome, 'archy-quadlet'),
    dataRoot: join(dataHome, 'archy-quadlet', 'data'),
  };
}

export function appDataDir(paths: Paths, appId: string): string {
  return join(paths.dataRoot, appId);
}
