import type { Supervisor } from '../supervise/supervisor.js';
import { currentView } from '../supervise/supervisor.js';
import { checkAppId, IntentError } from '../supervise/intents.js';

/** One secret an app declares, as `secret list` names it: never its value. */
export interface AppSecretEntry {
  /** Its name in the manifest (what `secret show APP NAME` takes). */
  name: string;
  /** The Podman secret that holds it. */
  podmanSecret: string;
  /** What it is to a person, from the manifest. */
  description?: string;
  /** Podman holds it, labelled as this app's (a pass creates a missing one). */
  present: boolean;
  /** Imported from the old node at adoption rather than generated. */
  imported: boolean;
}

/** The secrets an installed app declares, and whether Podman holds each. */
export async function listAppSecrets(sv: Supervisor, appId: string): Promise<AppSecretEntry[]> {
  const app = await installedApp(sv, appId);
  const ours = await sv.podman.secrets();
  return (app.rendered?.secrets ?? []).map((s) => ({
    name: s.key,
    podmanSecret: s.name,
    ...(s.description ? { description: s.description } : {}),
    present: ours[s.name] === appId,
    imported: (app.importedSecrets ?? []).includes(s.name),
  }));
}

/**
 * One secret's value, for the single verb that exists to show it. Only a secret the app's
 * manifest declares and Podman holds with this app's label: never another app's, never a
 * rendered config, never a secret of someone else that happens to have the name.
 */
export async function appSecretValue(sv: Supervisor, appId: string, name: string): Promise<string> {
  const entry = (await listAppSecrets(sv, appId)).find((s) => s.name === name);
  if (!entry) {
    const names = (await listAppSecrets(sv, appId)).map((s) => s.name);
    throw new IntentError(
      `${appId} has no secret "${name}"${names.length ? ` (its secrets: ${names.join(', ')})` : ' (it declares none)'}`,
    );
  }
  if (!entry.present)
    throw new IntentError(
      `the secret "${name}" of ${appId} does not exist yet (Podman secret ${entry.podmanSecret}): ` +
        'a pass creates it (archy-quadlet reconcile)',
    );
  return sv.podman.secretValue(entry.podmanSecret);
}

async function installedApp(sv: Supervisor, appId: string) {
  checkAppId(appId);
  const { desired } = await currentView(sv);
  const app = desired.apps.find((a) => a.id === appId && a.intent !== 'absent' && !a.orphan);
  if (!app) throw new IntentError(`"${appId}" is not installed (archy-quadlet install ${appId})`);
  if (!app.rendered)
    throw new IntentError(
      `the manifest of ${appId} cannot be used: ${app.error ?? 'unknown problem'} (status says more)`,
    );
  return app;
}
