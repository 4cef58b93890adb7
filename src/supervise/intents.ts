import type { Supervisor, PassReport } from './supervisor.js';
import { reconcilePass, withLock } from './supervisor.js';
import { readState, writeState, type SupervisorState } from './state-store.js';
import { loadCatalogApp } from '../catalog/load-catalog.js';
import { listCatalog } from '../catalog/load-catalog.js';
import { APP_ID_PATTERN } from '../catalog/validate-catalog.js';
import type { ManifestError } from '../manifest/types.js';

export type IntentChange = 'install' | 'uninstall' | 'purge' | 'start' | 'stop' | 'restart';

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
  if (!APP_ID_PATTERN.test(appId)) throw new IntentError(`"${printable(appId)}" is not an app id (lower-case letters, digits and inner hyphens)`);
}

/**
 * Records what the user wants for one app and runs one pass, under the node's lock.
 * Returns as soon as the steps are issued; systemd does the rest.
 */
export async function changeIntent(sv: Supervisor, appId: string, change: IntentChange): Promise<PassReport> {
  checkAppId(appId);
  return withLock(sv, async () => {
    const state = await readState(sv.paths.stateDir);
    const current = state.apps[appId];
    if (change === 'install') {
      const ids = await listCatalog(sv.paths.appsDir);
      if (!ids.includes(appId)) throw new IntentError(`no app "${appId}" in the catalog ${sv.paths.appsDir}`);
      const entry = await loadCatalogApp(sv.paths.appsDir, appId, await sv.validator());
      if (!entry.result.ok) throw new IntentError(`the manifest of "${appId}" is invalid; nothing was installed`, entry.result.errors);
      state.apps[appId] = { ...(current && current.intent !== 'absent' ? current : {}), intent: 'running', installedAt: current?.installedAt ?? new Date(sv.clock.nowMs()).toISOString() };
      delete state.apps[appId]!.purge;
    } else {
      if (!current || (current.intent === 'absent' && change !== 'uninstall' && change !== 'purge')) {
        throw new IntentError(`"${appId}" is not installed (archy-quadlet install ${appId})`);
      }
      if (change === 'uninstall' || change === 'purge') state.apps[appId] = { ...current, intent: 'absent', purge: change === 'purge' || current.purge === true };
      if (change === 'start') state.apps[appId] = { ...current, intent: 'running' };
      if (change === 'stop') state.apps[appId] = { ...current, intent: 'stopped' };
      if (change === 'restart') state.apps[appId] = { ...current, intent: 'running', restartRequestedAt: sv.clock.nowMs() };
    }
    await writeState(sv.paths.stateDir, state);
    return reconcilePass(sv);
  });
}

export async function installedApps(sv: Supervisor): Promise<SupervisorState> {
  return readState(sv.paths.stateDir);
}

function printable(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > 64 ? `${clean.slice(0, 61)}...` : clean;
}
