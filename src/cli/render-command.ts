import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { OutDirError, renderUnits, type AppRenderReport, type RenderReport } from '../output/render-units.js';
import { findQuadlet } from '../output/quadlet-generator.js';
import { unifiedDiff } from '../output/unified-diff.js';
import { formatError, json } from './format.js';
import { openManifestCache } from '../catalog/manifest-cache-file.js';

export interface RenderArgs {
  io: CliIo;
  paths: Paths;
  appIds: string[];
  outDir: string | undefined;
  dryRun: boolean;
  diff: boolean;
  boot: boolean;
  json: boolean;
}

const FAILED = new Set(['invalid', 'rejected', 'conflict']);

export async function renderCommand(a: RenderArgs): Promise<number> {
  const quadletBin = await findQuadlet(a.io.env);
  let report: RenderReport;
  try {
    const cache = a.outDir ? await openManifestCache(a.io.env, a.io.home) : undefined;
    report = a.outDir
      ? await renderUnits({
          paths: a.paths,
          validator: cache!.validator,
          appIds: a.appIds,
          outDir: a.outDir,
          dryRun: a.dryRun,
          startAtBoot: () => a.boot,
          quadletBin,
          facts: (await import('../supervise/node-facts-adapter.js')).readNodeFacts(
            undefined,
            undefined,
            a.paths.nodeNetwork?.subnet,
          ),
        })
      : await supervisorView(a);
    await cache?.save();
  } catch (e) {
    a.io.stderr(`archy-quadlet render: ${(e as Error).message}\n`);
    if (e instanceof OutDirError) return EXIT.usage;
    // Without --out the supervisor's modules are loaded anyway: an id that cannot be an app.
    const notAnApp = !a.outDir && e instanceof (await import('../supervise/intents.js')).IntentError;
    return notAnApp ? EXIT.invalid : EXIT.failure;
  }
  if (!a.outDir && !a.json && a.appIds.length === 0 && report.apps.length === 0) {
    a.io.stdout('no apps installed: the supervisor would write nothing (to render the catalog, give --out DIR)\n');
    return EXIT.ok;
  }
  const failed = report.apps.filter((x) => FAILED.has(x.status));
  if (a.json) {
    const diffs = a.diff ? await diffsOf(report.apps) : undefined;
    a.io.stdout(
      json({
        ...report,
        apps: report.apps.map((x) => ({
          ...x,
          changes: x.changes.map((c) => ({
            name: c.name,
            action: c.action,
            ...(diffs ? { diff: diffs.get(`${x.id}/${c.name}`) } : {}),
          })),
        })),
      }),
    );
    return failed.length > 0 ? EXIT.invalid : EXIT.ok;
  }
  const out = a.io.stdout;
  if (!report.generator.checked)
    a.io.stderr('note: the Quadlet generator is not installed here; the units were not checked by it\n');
  const verb = report.dryRun ? 'would ' : '';
  for (const app of report.apps) {
    const counts = ['create', 'update', 'remove']
      .map((k) => [k, app.changes.filter((c) => c.action === k).length] as const)
      .filter(([, n]) => n > 0);
    const summary = counts.length > 0 ? counts.map(([k, n]) => `${verb}${k} ${n}`).join(', ') : 'unchanged';
    if (FAILED.has(app.status)) {
      out(`${app.id}: ${app.status}, nothing written (its previous units stay)\n`);
      for (const e of app.errors) a.io.stderr(`${formatError(e)}\n`);
      for (const p of app.generator) a.io.stderr(`${app.file}: quadlet: ${p.message}\n`);
      continue;
    }
    out(`${app.id}: ${app.status === 'removed' ? `gone from the catalog, ${summary}` : summary}\n`);
    for (const p of app.generator) a.io.stderr(`${app.file}: quadlet ${p.severity}: ${p.message}\n`);
    for (const c of app.changes) {
      if (c.action === 'unchanged') continue;
      out(`  ${verb}${c.action} ${report.outDir}/${app.id}/${c.name}\n`);
      if (a.diff) out(await unifiedDiff(c.before ?? '', c.after ?? '', `${app.id}/${c.name}`));
    }
  }
  const ok = report.apps.length - failed.length;
  const done = !a.outDir ? 'checked: what the supervisor would write' : a.dryRun ? 'checked (dry run)' : 'rendered';
  const into = !a.outDir ? ' (archy-quadlet reconcile writes it)' : '';
  out(`${ok} app(s) ${done} into ${report.outDir}${into}${failed.length > 0 ? `; ${failed.length} failed` : ''}\n`);
  return failed.length > 0 ? EXIT.invalid : EXIT.ok;
}

async function diffsOf(apps: AppRenderReport[]): Promise<Map<string, string>> {
  const diffs = new Map<string, string>();
  for (const app of apps) {
    for (const c of app.changes) {
      if (c.action !== 'unchanged')
        diffs.set(`${app.id}/${c.name}`, await unifiedDiff(c.before ?? '', c.after ?? '', `${app.id}/${c.name}`));
    }
  }
  return diffs;
}

/** Without --out: the supervisor's own plan for its unit tree, written by nobody here. */
async function supervisorView(a: RenderArgs): Promise<RenderReport> {
  const [{ createSupervisor }, { createLogger }, { nodeUnitPlan }] = await Promise.all([
    import('../supervise/supervisor.js'),
    import('../supervise/logger.js'),
    import('../supervise/unit-plan.js'),
  ]);
  const sv = createSupervisor(a.paths, a.io.env, createLogger({ human: a.io.isTty, write: a.io.stderr }));
  return nodeUnitPlan(sv, a.appIds);
}
