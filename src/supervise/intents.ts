import type { Supervisor, PassReport } from './supervisor.js';
import { changeState, requestPass } from './supervisor.js';
import { listCatalog, loadCatalogApp } from '../catalog/load-catalog.js';
import { isAppId } from '../names.js';
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
  if (!isAppId(appId))
    throw new IntentError(`"${printable(appId)}" is not an app id (lower-case letters, digits and inner hyphens)`);
}

/**
 * Records what the user wants for one app (under the state lock, held for moments), then
 * has a pass run that started after it: its own, or one another process was about to run
 * anyway (see requestPass). Returns as soon as the steps are issued; systemd does the rest.
 */
export async function changeIntent(sv: Supervisor, appId: string, change: IntentChange): Promise<PassReport> {
  checkAppId(appId);
  // The manifest is read before the state lock: a slow disk must not hold up other verbs.
  const installable = change === 'install' ? await checkInstallable(sv, appId) : undefined;
  await changeState(sv, (state) => {
    const current = state.apps[appId];
    if (installable) {
      state.apps[appId] = {
        ...(current && current.intent !== 'absent' ? current : {}),
        intent: 'running',
        installedAt: current?.installedAt ?? new Date(sv.clock.nowMs()).toISOString(),
      };
      delete state.apps[appId]!.purge;
      return;
    }
    if (!current || (current.intent === 'absent' && change !== 'uninstall' && change !== 'purge')) {
      throw new IntentError(`"${appId}" is not installed (archy-quadlet install ${appId})`);
    }
    if (change === 'uninstall' || change === 'purge')
      state.apps[appId] = { ...current, intent: 'absent', purge: change === 'purge' || current.purge === true };
    if (change === 'start') state.apps[appId] = { ...current, intent: 'running' };
    if (change === 'stop') state.apps[appId] = { ...current, intent: 'stopped' };
    if (change === 'restart')
      state.apps[appId] = { ...current, intent: 'running', restartRequestedAt: sv.clock.nowMs() };
  });
  return requestPass(sv);
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
