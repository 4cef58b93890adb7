import { join } from 'node:path';
import type { ManifestError } from '../manifest/types.js';
import { listCatalog, loadCatalogApp, type CatalogValidator } from './load-catalog.js';
import { checkCatalog } from './catalog-checks.js';
import { isAppId } from '../names.js';

export interface ValidateReport {
  appsDir: string;
  apps: Array<{ id: string; file: string; valid: boolean; errors: ManifestError[] }>;
}

/** Validates the chosen apps (default: all) of a catalog, with the cross-app checks. */
export async function validateCatalog(
  appsDir: string,
  appIds: string[],
  given?: CatalogValidator,
): Promise<ValidateReport> {
  const validator = given ?? (await import('../manifest/validate-manifest.js')).createManifestValidator();
  const ids = await listCatalog(appsDir);
  const catalog = checkCatalog(await Promise.all(ids.map((id) => loadCatalogApp(appsDir, id, validator))));
  const selected = appIds.length > 0 ? [...new Set(appIds)].sort() : ids;
  const apps = selected.map((id) => {
    const entry = catalog.find((a) => a.id === id);
    if (!entry) {
      return { id, file: join(appsDir, id), valid: false, errors: [unknownApp(appsDir, id)] };
    }
    return { id, file: entry.file, valid: entry.result.ok, errors: entry.result.ok ? [] : entry.result.errors };
  });
  return { appsDir, apps };
}

export function unknownApp(appsDir: string, id: string): ManifestError {
  const printable = id.replace(/[\u0000-\u001f\u007f]/g, '?');
  const shown = printable.length > 64 ? `${printable.slice(0, 61)}...` : printable;
  const message = isAppId(id) ? `no app "${id}" in the catalog` : `"${shown}" is not an app id (a DNS label)`;
  return { file: appsDir, line: 0, col: 0, field: 'app', message };
}
