import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { json } from './format.js';
import { gatherFacts } from '../doctor/gather-facts.js';
import { runChecks, worstLevel, type CheckLevel, type CheckResult } from '../doctor/checks.js';
import { healPodman } from '../podman-heal/heal-podman.js';

const MARK: Record<CheckLevel, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', 'n/a': 'n/a ' };

export async function doctorCommand(a: { io: CliIo; paths: Paths; json: boolean; fix?: boolean }): Promise<number> {
  let facts = await gatherFacts(a.paths, a.io.env, a.io.home);
  let fixed: { done: string[]; error?: string } | undefined;
  const broken = facts.podmanState?.breakages ?? [];
  if (a.fix && broken.length > 0) {
    const labels = facts.podmanState!.volumeLabels;
    const runtimeDir = a.io.env.XDG_RUNTIME_DIR ?? `/run/user/${facts.uid}`;
    fixed = { done: [] };
    const healed = await healPodman(broken, { runtimeDir, uid: facts.uid, volumeLabels: (v) => labels[v] ?? [] });
    fixed.done = healed.done;
    if (healed.failed.length > 0) fixed.error = healed.failed.join('; ');
    facts = await gatherFacts(a.paths, a.io.env, a.io.home);
  }
  const results = runChecks(facts);
  const worst = worstLevel(results);
  if (a.json) a.io.stdout(json({ worst, checks: results, ...(fixed ? { fixed } : {}) }));
  else {
    if (fixed) {
      for (const line of fixed.done) a.io.stdout(`fixed: ${line}\n`);
      if (fixed.error) a.io.stdout(`fix failed: ${fixed.error}\n`);
      a.io.stdout('checked again:\n');
    } else if (a.fix) a.io.stdout("nothing to fix in Podman's own state\n");
    printChecks(a.io, results);
  }
  return worst === 'fail' ? EXIT.doctorFail : worst === 'warn' ? EXIT.doctorWarn : EXIT.ok;
}

function printChecks(io: CliIo, results: CheckResult[]): void {
  for (const r of results)
    io.stdout(`${MARK[r.level]} ${r.title}: ${r.detail}${r.fix ? `\n     fix: ${r.fix}` : ''}\n`);
  const counts = (['fail', 'warn', 'n/a'] as const).map(
    (l) =>
      `${results.filter((r) => r.level === l).length} ` +
      `${l === 'fail' ? 'failed' : l === 'warn' ? 'warning(s)' : 'not applicable here'}`,
  );
  io.stdout(`${results.length} checks: ${counts.join(', ')}\n`);
}
