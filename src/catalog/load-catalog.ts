import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ManifestError } from '../manifest/types.js';
import type { AppSpec } from '../manifest/app-spec.js';
import type { Locate, ManifestResult } from '../manifest/validate-manifest.js';
import { parseYamlSource } from '../manifest/yaml-source.js';
import { formatFieldPath } from '../manifest/field-path.js';
import { referenceProblem } from '../manifest/semantic-checks.js';
import { parseTemplate } from '../templates/config-template.js';
import { buildContextHash, buildTagHash } from './build-context.js';

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

/** A manifest validator, or one that answers later (the manifest cache loads the real one on a miss). */
export interface CatalogValidator {
  validate(text: string, file: string, expectedId?: string): ManifestResult | Promise<ManifestResult>;
}

/** Reads and validates one app; also checks what only the file system can tell (build contexts). */
export async function loadCatalogApp(appsDir: string, id: string, validator: CatalogValidator): Promise<CatalogApp> {
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
  const result = await validator.validate(text, file, id);
  if (!result.ok) return { id, file, dir, result };
  // Where a field stands is asked of the validation's own parse (none when it came from the cache).
  const at: Locate = result.at ?? locateIn(text, file);
  const fsErrors = await checkBuildFiles(result.app, dir, at);
  const templates = await loadTemplates(result.app, dir, at);
  const errors = [...fsErrors, ...templates.errors];
  if (errors.length > 0) return { id, file, dir, result: { ok: false, errors } };
  let app: AppSpec;
  try {
    app = await withBuildHashes(result.app, dir);
  } catch (e) {
    // One app's unreadable context is that app's problem, never the node's.
    const message = `build context unreadable: ${(e as Error).message}`;
    return { id, file, dir, result: { ok: false, errors: [{ file, line: 1, col: 1, field: 'build', message }] } };
  }
  if (Object.keys(templates.texts).length === 0) return { id, file, dir, result: { ...result, app } };
  return { id, file, dir, result: { ...result, app: { ...app, templateTexts: templates.texts } } };
}

/**
 * Each local build's image tag gains the hash of its build context's content and its build
 * options (`:1.0.0-<hash>`): a changed Containerfile, page or build argument is a new image,
 * so an update, with no version bump (see build-context.ts).
 */
async function withBuildHashes(app: AppSpec, dir: string): Promise<AppSpec> {
  if (!app.containers.some((c) => c.build)) return app;
  const containers = await Promise.all(
    app.containers.map(async (c) => {
      if (!c.build || !c.spec.build) return c;
      const hash = buildTagHash(await buildContextHash(join(dir, c.spec.build.context)), c.spec.build);
      return { ...c, build: { ...c.build, imageTag: `${c.build.imageTag}-${hash}` } };
    }),
  );
  return { ...app, containers };
}

/**
 * The app's templates, read with its manifest: each must exist, parse, and read only secrets
 * the container may use. A problem inside a template is reported at its own file and line.
 */
async function loadTemplates(
  app: AppSpec,
  dir: string,
  at: Locate,
): Promise<{ texts: Record<string, string>; errors: ManifestError[] }> {
  const texts: Record<string, string> = {};
  const errors: ManifestError[] = [];
  const uses = app.manifest.containers.flatMap((c, i) => (c.templates ?? []).map((t, j) => ({ c, i, t, j })));
  if (uses.length === 0) return { texts, errors };
  for (const { c, i, t, j } of uses) {
    const where = ['containers', i, 'templates', j, 'template'];
    const path = join(dir, t.template);
    let body = texts[t.template];
    if (body === undefined) {
      try {
        body = await readFile(path, 'utf8');
      } catch (e) {
        const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : (e as Error).message;
        errors.push(at(where, `template ${path} ${why}`));
        continue;
      }
      texts[t.template] = body;
    }
    const template = parseTemplate(body);
    const field = `containers[${i}].templates[${j}]`;
    if (!template.ok) {
      for (const p of template.problems)
        errors.push({ file: path, line: p.line, col: p.col, field, message: p.message });
      continue;
    }
    for (const part of template.parts) {
      if (part.kind !== 'secret' && part.kind !== 'rpcauth') continue;
      const problem = referenceProblem(app.manifest, c, part.ref, 'secret');
      if (problem) errors.push({ file: path, line: part.line, col: part.col, field, message: problem });
    }
  }
  return { texts, errors };
}

async function checkBuildFiles(app: AppSpec, dir: string, at: Locate): Promise<ManifestError[]> {
  const errors: ManifestError[] = [];
  for (const [i, c] of app.manifest.containers.entries()) {
    if (!c.build) continue;
    const context = join(dir, c.build.context);
    const containerfile = join(context, c.build.containerfile ?? 'Containerfile');
    if (!(await isDir(context)))
      errors.push(at(['containers', i, 'build', 'context'], `build context ${context} is not a directory`));
    else if (!(await exists(containerfile))) {
      const field = c.build.containerfile ? 'containerfile' : 'context';
      errors.push(at(['containers', i, 'build', field], `Containerfile ${containerfile} does not exist`));
    }
  }
  return errors;
}

/** Locates fields by parsing the (valid) manifest only when an error has to be placed. */
export function locateIn(text: string, file: string): Locate {
  let parsed: ReturnType<typeof parseYamlSource> | undefined;
  return (path, message, at) => {
    parsed ??= parseYamlSource(text, file);
    return parsed.ok
      ? parsed.source.error(path, message, at)
      : { file, line: 1, col: 1, field: formatFieldPath(path), message };
  };
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
