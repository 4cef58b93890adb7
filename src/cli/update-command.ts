import { EXIT } from './exit-codes.js';
import { json, updateLine } from './format.js';
import { guarded, outcomeJson, supervisorFor, waitPrinting, type SuperviseArgs } from './supervise-commands.js';
import { currentView, requestPass, type PassReport } from '../supervise/supervisor.js';
import { checkUpdates, retryUpdate, type UpdateCheck } from '../supervise/update.js';
import { computeStatus } from '../supervise/status.js';
import { appSettled } from '../supervise/wait-for.js';
import { unifiedDiff } from '../output/unified-diff.js';

export interface UpdateArgs extends SuperviseArgs {
  app?: string;
  check: boolean;
  retry: boolean;
  wait: boolean;
  timeoutSec?: number | undefined;
}

/** `archy-quadlet update [APP]`: parses nothing, prints; the work is in supervise/update.ts and the pass. */
export async function updateCommand(a: UpdateArgs): Promise<number> {
  return guarded(a, async () => {
    const sv = supervisorFor(a);
    if (a.check) {
      const checks = await checkUpdates(sv, a.app);
      if (a.json) a.io.stdout(json({ apps: checks }));
      else for (const c of checks) a.io.stdout(await checkText(c));
      return EXIT.ok;
    }
    const retried = a.app && a.retry ? await retryUpdate(sv, a.app) : false;
    if (a.app && a.retry && !retried && !a.json)
      a.io.stderr(`archy-quadlet: ${a.app}: no rolled-back update to retry\n`);
    let report: PassReport = await requestPass(sv);
    const apps = a.app ? [a.app] : [];
    if (a.wait) {
      const view = await currentView(sv);
      const targets = a.app ? apps : view.desired.apps.filter((x) => x.intent === 'running').map((x) => x.id);
      for (const app of targets) report = await waitPrinting(sv, { ...a, app, change: 'update' }, report);
      apps.push(...(a.app ? [] : targets));
    }
    const now = await currentView(sv);
    const views = computeStatus(now.desired, now.observed).filter((v) => a.app === undefined || v.id === a.app);
    if (a.json)
      a.io.stdout(
        json({
          ...(a.app ? { app: a.app } : {}),
          retried,
          converged: a.app ? appSettled(report, a.app) : report.converged,
          applied: report.applied.flat().map(outcomeJson),
          pending: report.pending,
          status: views,
        }),
      );
    else
      for (const v of views) {
        a.io.stdout(`${v.id}: ${v.state}${v.converged ? '' : ` (wanted: ${v.desired})`}\n`);
        if (v.update) a.io.stdout(`  ${updateLine(v.update).replace('<app>', v.id)}\n`);
      }
    if (a.wait && apps.some((x) => !appSettled(report, x))) return EXIT.timeout;
    // Rolled back: said by the update record, not by the state shown, which a container of the
    // last good set restarting at that moment (a slow health check) shows as starting.
    const rolledBack = now.desired.apps.some(
      (x) => (a.app === undefined || x.id === a.app) && x.intent === 'running' && x.update?.phase === 'rolledBack',
    );
    if (a.wait && (rolledBack || views.some((v) => v.state === 'rolled-back'))) return EXIT.failure;
    const mine = report.applied.flat().filter((o) => a.app === undefined || o.step.app === a.app);
    return mine.some((o) => !o.ok) ? EXIT.failure : EXIT.ok;
  });
}

async function checkText(c: UpdateCheck): Promise<string> {
  const versions = c.fromVersion || c.toVersion ? ` (${c.fromVersion ?? '?'} → ${c.toVersion ?? '?'})` : '';
  const what: Record<UpdateCheck['state'], string> = {
    current: 'up to date',
    update: `would be updated${versions}: the running version stays until the new one is pulled, then it must be healthy in time or it is rolled back`,
    updating: `being updated${versions}`,
    'rolling-back': `update${versions} failed, rolling back: ${c.reason ?? ''}`,
    'rolled-back': `update${versions} was rolled back (${c.reason ?? 'no reason recorded'}): not tried again until the manifest changes or: archy-quadlet update ${c.app} --retry`,
    'not-running': `units would be rewritten${versions} (it does not run: no update gate)`,
  };
  const out = [`${c.app}: ${what[c.state]}`];
  for (const i of c.images)
    out.push(
      `  image ${i.container}: ${i.from ?? '(none)'} → ${i.to}${i.pull ? ' (not in the store: pulled first)' : ''}`,
    );
  for (const f of c.files) out.push((await unifiedDiff(f.before ?? '', f.after ?? '', f.name)).trimEnd());
  return `${out.join('\n')}\n`;
}
