import { readdir } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import type { ManifestError } from '../manifest/types.js';
import { serviceNames } from '../manifest/app-spec.js';
import { listCatalog, loadCatalogApp, type CatalogValidator } from '../catalog/load-catalog.js';
import { checkCatalog } from '../catalog/catalog-checks.js';
import { unknownApp } from '../catalog/validate-catalog.js';
import { LinkError, renderApp, renderNodeUnits, type RenderedFile } from '../render/render-app.js';
import { catalogLinks, interfacesOf } from '../graph/app-graph.js';
import type { NodeFacts } from '../graph/node-facts.js';
import { UnitValueError } from '../render/escape.js';
import { appDataDir, type Paths } from '../paths.js';
import { isAppId, NODE_NETWORK, NODE_NETWORK_SUBNET, NODE_UNITS_DIR } from '../names.js';
import { applyUnitDir, readUnitDir, removeDirIfEmpty } from '../fs/unit-dir.js';
import { planUnitDir, type FileChange } from './plan-unit-dir.js';
import { checkWithGenerator } from './check-units.js';
import type { GeneratorProblem } from './quadlet-generator.js';

export interface RenderRequest {
  paths: Paths;
  /** Apps to render; all apps of the catalog when empty. */
  appIds: string[];
  /**
   * Directory to write into: never the supervisor's unit root (it has one writer, the
   * supervisor: see `nodeUnitPlan` for a view of what it would write there).
   */
  outDir: string;
  dryRun: boolean;
  startAtBoot: (appId: string) => boolean;
  /** Quadlet generator binary to check the units with; undefined: not installed, not checked. */
  quadletBin: string | undefined;
  /** The node facts manifests may use (`{{node.lanAddress}}`...): this machine's. */
  facts: NodeFacts;
  /** Default: a fresh validator (the CLI passes the manifest cache's). */
  validator?: CatalogValidator;
}

export type AppRenderStatus = 'rendered' | 'unchanged' | 'invalid' | 'rejected' | 'conflict' | 'removed';
export interface AppRenderReport {
  id: string;
  status: AppRenderStatus;
  file: string;
  changes: FileChange[];
  errors: ManifestError[];
  generator: GeneratorProblem[];
}

export interface RenderReport {
  outDir: string;
  dryRun: boolean;
  generator: { checked: boolean; bin?: string };
  apps: AppRenderReport[];
}

export class OutDirError extends Error {}

/** Whether `dir` is the supervisor's unit tree, or inside it, or holds it. */
export function overlapsUnitRoot(dir: string, unitRoot: string): boolean {
  const inside = (a: string, b: string) => {
    const rel = relative(resolve(b), resolve(a));
    return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
  };
  return inside(dir, unitRoot) || inside(unitRoot, dir);
}

/** Loads the catalog, renders, checks with the real generator, writes what changed into outDir. */
export async function renderUnits(req: RenderRequest): Promise<RenderReport> {
  const validator = req.validator ?? (await import('../manifest/validate-manifest.js')).createManifestValidator();
  const outDir = req.outDir;
  if (overlapsUnitRoot(outDir, req.paths.unitRoot)) {
    throw new OutDirError(
      `${outDir} is (or holds) the supervisor's unit directory ${req.paths.unitRoot}: ` +
        'only the supervisor writes there (archy-quadlet install/reconcile); ' +
        'render without --out shows what it would write',
    );
  }
  const catalogIds = await listCatalog(req.paths.appsDir);
  const selected = req.appIds.length > 0 ? [...new Set(req.appIds)].sort() : catalogIds;
  const reports = new Map<string, AppRenderReport>();
  const missing = selected.filter((id) => !catalogIds.includes(id));
  for (const id of missing)
    reports.set(
      id,
      appReport(id, join(req.paths.appsDir, id), 'invalid', { errors: [unknownApp(req.paths.appsDir, id)] }),
    );
  // Cross-app checks need every app, even when only some are rendered.
  const catalog = checkCatalog(
    await Promise.all(catalogIds.map((id) => loadCatalogApp(req.paths.appsDir, id, validator))),
  );
  const wanted = catalog.filter((a) => selected.includes(a.id));
  // The catalog linked as one node: each interface by its default provider, this machine's facts.
  const links = catalogLinks(
    catalog.flatMap((e) => (e.result.ok ? [{ id: e.id, interfaces: interfacesOf(e.result.app) }] : [])),
    req.facts,
    req.paths.nodeNetwork?.name ?? NODE_NETWORK,
  );
  const nodeFiles = renderNodeUnits(
    req.paths.nodeNetwork?.subnet ?? NODE_NETWORK_SUBNET,
    req.paths.nodeNetwork?.name ?? NODE_NETWORK,
  );

  const rendered = new Map<string, RenderedFile[]>();
  for (const entry of wanted) {
    if (!entry.result.ok) {
      reports.set(entry.id, appReport(entry.id, entry.file, 'invalid', { errors: entry.result.errors }));
      continue;
    }
    try {
      rendered.set(
        entry.id,
        renderApp(entry.result.app, {
          startAtBoot: req.startAtBoot(entry.id),
          source: entry.file,
          appDir: entry.dir,
          dataDir: appDataDir(req.paths, entry.id),
          ...(links.has(entry.id) ? { links: links.get(entry.id)! } : {}),
        }),
      );
    } catch (e) {
      // A value outside the manifest (a folder path) that a unit file cannot carry, or a link
      // the node cannot make (an unknown fact).
      if (!(e instanceof UnitValueError) && !(e instanceof LinkError)) throw e;
      reports.set(
        entry.id,
        appReport(entry.id, entry.file, 'invalid', {
          errors: [{ file: entry.file, line: 0, col: 0, field: '(render)', message: e.message }],
        }),
      );
    }
  }

  // What is on disk is read while the generator runs (it takes a few tens of ms).
  const onDisk = new Map([...rendered.keys()].map((id) => [id, filesOnDisk(join(outDir, id))]));
  for (const read of onDisk.values()) read.catch(() => undefined); // awaited below, or moot if the check throws

  if (req.quadletBin && rendered.size > 0) {
    const units = new Map(
      [...rendered].map(([id, files]) => {
        const entry = wanted.find((a) => a.id === id)!;
        // Units they reference: the node network, the providers' volumes (all rendered here).
        const context = [
          ...nodeFiles,
          ...[...rendered]
            .filter(([other]) => other !== id)
            .flatMap(([, f]) => f.filter((x) => x.name.endsWith('.volume'))),
        ];
        return [id, { files, services: entry.result.ok ? serviceNames(entry.result.app) : [], context }] as const;
      }),
    );
    const verdicts = await checkWithGenerator(req.quadletBin, units, undefined, outDir);
    for (const [id, problems] of verdicts) {
      if (problems.some((p) => p.severity === 'error')) {
        rendered.delete(id);
        reports.set(id, appReport(id, wanted.find((a) => a.id === id)!.file, 'rejected', { generator: problems }));
      } else if (problems.length > 0) {
        reports.set(id, appReport(id, wanted.find((a) => a.id === id)!.file, 'rendered', { generator: problems }));
      }
    }
  }

  for (const [id, files] of rendered) {
    const dir = join(outDir, id);
    const { changes, conflicts } = planUnitDir(await onDisk.get(id)!, files);
    const prior = reports.get(id);
    const file = wanted.find((a) => a.id === id)!.file;
    if (conflicts.length > 0) {
      const errors = conflicts.map((name) => ({
        file: join(dir, name),
        line: 0,
        col: 0,
        field: 'unit',
        message: 'a file of this name exists and was not written by archy-quadlet: left alone, app not rendered',
      }));
      reports.set(id, appReport(id, file, 'conflict', { errors }));
      continue;
    }
    if (!req.dryRun) await applyUnitDir(dir, changes);
    const status = changes.every((c) => c.action === 'unchanged') ? 'unchanged' : 'rendered';
    reports.set(id, appReport(id, file, status, { changes, generator: prior?.generator ?? [] }));
  }

  // The node network beside the apps that reference it (never removed: it outlives them).
  const linking = wanted.some(
    (e) =>
      e.result.ok &&
      rendered.has(e.id) &&
      (Object.keys(e.result.app.manifest.provides ?? {}).length > 0 ||
        Object.keys(links.get(e.id)?.providers ?? {}).length > 0),
  );
  if (linking) {
    const dir = join(outDir, NODE_UNITS_DIR);
    const { changes, conflicts } = planUnitDir(await filesOnDisk(dir), nodeFiles);
    if (conflicts.length === 0 && !req.dryRun)
      await applyUnitDir(
        dir,
        changes.filter((c) => c.action !== 'remove'),
      );
  }

  if (req.appIds.length === 0) {
    // Apps gone from the catalog: their files go too (ours only; the folder only if then empty).
    for (const id of await listSubdirs(outDir)) {
      if (catalogIds.includes(id)) continue;
      const dir = join(outDir, id);
      const { changes } = planUnitDir(await filesOnDisk(dir), []);
      if (changes.length === 0) continue;
      if (!req.dryRun) {
        await applyUnitDir(dir, changes);
        await removeDirIfEmpty(dir);
      }
      reports.set(id, appReport(id, dir, 'removed', { changes }));
    }
  }
  return {
    outDir,
    dryRun: req.dryRun,
    generator: req.quadletBin ? { checked: true, bin: req.quadletBin } : { checked: false },
    apps: [...reports.values()].sort((a, b) => (a.id < b.id ? -1 : 1)),
  };
}

function appReport(
  id: string,
  file: string,
  status: AppRenderStatus,
  parts: Partial<Pick<AppRenderReport, 'changes' | 'errors' | 'generator'>>,
): AppRenderReport {
  return {
    id,
    file,
    status,
    changes: parts.changes ?? [],
    errors: parts.errors ?? [],
    generator: parts.generator ?? [],
  };
}

async function filesOnDisk(dir: string) {
  return (await readUnitDir(dir)).map((f) => ({ name: f.name, content: f.content, owned: f.owned !== undefined }));
}

async function listSubdirs(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isDirectory() && isAppId(e.name))
      .map((e) => e.name);
  } catch {
    return [];
  }
}
