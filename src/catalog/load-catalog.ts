import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManifestError } from '../manifest/types.js';
import type { AppSpec } from '../manifest/app-spec.js';
import type { ManifestResult, ManifestValidator } from '../manifest/validate-manifest.js';
import { parseYamlSource } from '../manifest/yaml-source.js';

export const MANIFEST_FILE = 'manifest.yml';

export interface CatalogApp {
  id: string;
  file: string;
  dir: string;
  result: ManifestResult;
}

/** App ids in a catalog: folders that hold a manifest.yml, sorted. */
export async function listCatalog(appsDir: string): Promise<string[]> {
  const entries = await readdir(appsDir, { withFileTypes: true });
  const ids: string[] = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    if (await exists(join(appsDir, e.name, MANIFEST_FILE))) ids.push(e.name);
  }
  return ids.sort();
}

/** Reads and validates one app; also checks what only the file system can tell (build contexts). */
export async function loadCatalogApp(appsDir: string, id: string, validator: ManifestValidator): Promise<CatalogApp> {
  const dir = join(appsDir, id);
  const file = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const message = code === 'ENOENT' ? `no ${MANIFEST_FILE} for app "${id}"` : `cannot read: ${(e as Error).message}`;
    return { id, file, dir, result: { ok: false, errors: [{ file, line: 1, col: 1, field: '(file)', message }] } };
  }
  const result = validator.validate(text, file, id);
  if (!result.ok) return { id, file, dir, result };
  const fsErrors = await checkBuildFiles(result.app, dir, text, file);
  return { id, file, dir, result: fsErrors.length > 0 ? { ok: false, errors: fsErrors } : result };
}

async function checkBuildFiles(app: AppSpec, dir: string, text: string, file: string): Promise<ManifestError[]> {
  const errors: ManifestError[] = [];
  const parsed = parseYamlSource(text, file);
  if (!parsed.ok) return parsed.errors;
  for (const [i, c] of app.manifest.containers.entries()) {
    if (!c.build) continue;
    const context = join(dir, c.build.context);
    const containerfile = join(context, c.build.containerfile ?? 'Containerfile');
    if (!(await isDir(context)))
      errors.push(
        parsed.source.error(['containers', i, 'build', 'context'], `build context ${context} is not a directory`),
      );
    else if (!(await exists(containerfile))) {
      const field = c.build.containerfile ? 'containerfile' : 'context';
      errors.push(
        parsed.source.error(['containers', i, 'build', field], `Containerfile ${containerfile} does not exist`),
      );
    }
  }
  return errors;
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  );
}
