import type { AppRenderReport, RenderReport } from '../output/render-units.js';
import { unitFilePlan } from './plan-steps.js';
import { currentView, type Supervisor } from './supervisor.js';
import { checkAppId } from './intents.js';

/**
 * `render` without `--out`, on a node: what the supervisor would write into its unit tree
 * for the installed apps, through the supervisor's own comparison and generator check.
 * A view only: the supervisor is the one writer of that tree.
 */
export async function nodeUnitPlan(sv: Supervisor, appIds: string[]): Promise<RenderReport> {
  for (const id of appIds) checkAppId(id);
  const { desired, observed } = await currentView(sv);
  const wanted = (id: string) => appIds.length === 0 || appIds.includes(id);
  const apps: AppRenderReport[] = [];
  const report = (
    id: string,
    status: AppRenderReport['status'],
    parts: Partial<AppRenderReport> = {},
  ): AppRenderReport => ({
    id,
    file: `${sv.paths.appsDir}/${id}/manifest.yml`,
    status,
    changes: [],
    errors: [],
    generator: [],
    ...parts,
  });
  for (const app of desired.apps.filter((a) => wanted(a.id))) {
    const onDisk = observed.files[app.id] ?? [];
    if (app.intent === 'absent') {
      const changes = onDisk
        .filter((f) => f.owned)
        .map((f) => ({ name: f.name, action: 'remove' as const, before: f.content }));
      apps.push(report(app.id, changes.length > 0 ? 'removed' : 'unchanged', { changes }));
      continue;
    }
    const plan = unitFilePlan(app, observed.files);
    if (!plan) {
      const error = {
        file: `${sv.paths.appsDir}/${app.id}/manifest.yml`,
        line: 0,
        col: 0,
        field: '(manifest)',
        message: app.error ?? 'unusable',
      };
      apps.push(report(app.id, 'invalid', { errors: [error] }));
      continue;
    }
    if (plan.conflicts.length > 0) {
      const errors = plan.conflicts.map((name) => ({
        file: `${sv.paths.unitRoot}/${app.id}/${name}`,
        line: 0,
        col: 0,
        field: 'unit',
        message: 'a file of this name exists and was not written by archy-quadlet: left alone, the app is held',
      }));
      apps.push(report(app.id, 'conflict', { errors }));
      continue;
    }
    const rejected = observed.rejectedRenders?.[app.id];
    if (rejected) {
      apps.push(report(app.id, 'rejected', { generator: [{ severity: 'error', message: rejected }] }));
      continue;
    }
    const status = plan.changes.every((c) => c.action === 'unchanged') ? 'unchanged' : 'rendered';
    apps.push(report(app.id, status, { changes: plan.changes }));
  }
  // Asked for by name, and not installed: nothing the supervisor would write.
  for (const id of appIds) {
    if (desired.apps.some((a) => a.id === id) || observed.files[id]) continue;
    const message = `not installed (archy-quadlet install ${id}; render --out DIR renders the catalog)`;
    apps.push(
      report(id, 'invalid', {
        errors: [{ file: `${sv.paths.appsDir}/${id}/manifest.yml`, line: 0, col: 0, field: 'app', message }],
      }),
    );
  }
  // Files of apps no longer installed: the supervisor removes them.
  const known = new Set(desired.apps.map((a) => a.id));
  for (const [id, files] of Object.entries(observed.files)) {
    if (known.has(id) || !wanted(id)) continue;
    const changes = files
      .filter((f) => f.owned)
      .map((f) => ({ name: f.name, action: 'remove' as const, before: f.content }));
    if (changes.length > 0) apps.push(report(id, 'removed', { changes }));
  }
  return {
    outDir: sv.paths.unitRoot,
    dryRun: true,
    generator: { checked: true },
    apps: apps.sort((a, b) => (a.id < b.id ? -1 : 1)),
  };
}
