import { readRecordedMap, recordInMap } from './recorded-map.js';

// The Podman ids of the secrets archy-quadlet created (name → id). Dependents render the
// ids of their providers' secrets, so a secret that is re-created (purged and installed
// again, deleted by hand and generated anew) restarts them: Podman copies a secret's value
// into a container only when the container is created, and a no-op pass asks Podman nothing.
// Ids only, never values. A lost file only means one extra restart of dependents.

const FILE = 'secret-ids.json';

export async function readSecretIds(stateDir: string): Promise<Record<string, string>> {
  return readRecordedMap(stateDir, FILE);
}

/** Records (id) or forgets (undefined) one secret's id: read, change, write. */
export async function recordSecretId(stateDir: string, name: string, id: string | undefined): Promise<void> {
  await recordInMap(stateDir, FILE, name, id);
}

// The key of the inputs each template secret was last rendered from (secret name → key): a
// pass compares it with what the template is made from now, without asking Podman. A lost
// file means each template is rendered once more.

const TEMPLATES_FILE = 'template-inputs.json';

export async function readTemplateInputs(stateDir: string): Promise<Record<string, string>> {
  return readRecordedMap(stateDir, TEMPLATES_FILE);
}

export async function recordTemplateInput(stateDir: string, secret: string, key: string | undefined): Promise<void> {
  await recordInMap(stateDir, TEMPLATES_FILE, secret, key);
}
