import { EXIT } from './exit-codes.js';
import { json } from './format.js';
import { guarded, outcomeJson, supervisorFor, waitPrinting, type SuperviseArgs } from './supervise-commands.js';
import { adoptApp, type AdoptionPlan } from '../adopt/adopt-app.js';
import { formatAdoptReport } from '../adopt/compare-container.js';
import { currentView } from '../supervise/supervisor.js';
import { computeStatus } from '../supervise/status.js';
import { appSettled } from '../supervise/wait-for.js';
import { IntentError } from '../supervise/intents.js';

/** `archy-quadlet adopt APP [--dry-run] [--secret NAME=FILE]...`: parses, calls the library, prints. */
export async function adoptCommand(
  a: SuperviseArgs & {
    app: string;
    dryRun: boolean;
    secrets: string[];
    wait: boolean;
    timeoutSec?: number | undefined;
  },
): Promise<number> {
  return guarded(a, async () => {
    const secrets: Record<string, string> = {};
    for (const s of a.secrets) {
      const eq = s.indexOf('=');
      if (eq <= 0 || eq === s.length - 1) throw new IntentError(`--secret ${s}: expected NAME=FILE`);
      secrets[s.slice(0, eq)] = s.slice(eq + 1);
    }
    const sv = supervisorFor(a);
    const result = await adoptApp(sv, a.app, { secrets, dryRun: a.dryRun });
    const { plan } = result;
    if (!result.report) {
      if (a.json) a.io.stdout(json({ dryRun: a.dryRun, ...plan }));
      else a.io.stdout(planText(plan, a.dryRun));
      return plan.ok ? EXIT.ok : EXIT.invalid;
    }
    let report = result.report;
    if (a.wait) report = await waitPrinting(sv, { ...a, change: 'install' }, report);
    const now = await currentView(sv);
    const view = computeStatus(now.desired, now.observed).find((v) => v.id === a.app);
    if (a.json)
      a.io.stdout(
        json({
          dryRun: false,
          ...plan,
          converged: appSettled(report, a.app),
          pending: report.pending,
          applied: report.applied.flat().map(outcomeJson),
          status: view ?? null,
        }),
      );
    else {
      const where = view ? `${view.state}${view.adoption?.reason ? `: ${view.adoption.reason}` : ''}` : 'unknown';
      a.io.stdout(`${planText(plan, false)}${a.app}: adoption begun; now ${where} (archy-quadlet status ${a.app})\n`);
    }
    if (a.wait && !appSettled(report, a.app)) return EXIT.timeout;
    // Waited, and rolled back: not what was asked.
    if (a.wait && view?.state === 'not-adopted') return EXIT.failure;
    const mine = report.applied.flat().filter((o) => o.step.app === a.app || o.step.app === undefined);
    return mine.some((o) => !o.ok) ? EXIT.failure : EXIT.ok;
  });
}

function planText(p: AdoptionPlan, dryRun: boolean): string {
  const out: string[] = [];
  for (const r of p.reports) out.push(formatAdoptReport(r));
  for (const c of p.newContainers) out.push(`${c}: no old container: started new`);
  for (const u of p.unknown) out.push(`not in the manifest (left as it is): ${u}`);
  for (const s of p.secrets.imported)
    out.push(`secret ${s.secret}: imported from ${s.file} (${s.from === 'flag' ? '--secret' : 'manifest'})`);
  for (const s of p.secrets.generated) out.push(`secret ${s}: generated (no file to import)`);
  for (const v of p.volumes.reused) out.push(`volume ${v}: reused as it is`);
  for (const v of p.volumes.created) out.push(`volume ${v}: created (new, empty)`);
  if (p.ok) {
    out.push(`${p.app}: can be adopted${dryRun ? ' (dry run: nothing was changed)' : ''}; the plan:`);
    for (const [i, s] of p.steps.entries()) out.push(`  ${i + 1}. ${s}`);
  } else {
    out.push(`${p.app}: cannot be adopted; nothing was changed:`);
    for (const problem of p.problems) out.push(`  - ${problem}`);
  }
  return `${out.join('\n')}\n`;
}
