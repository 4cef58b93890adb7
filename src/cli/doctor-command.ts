import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { json } from './format.js';
import { gatherFacts } from '../doctor/gather-facts.js';
import { runChecks, worstLevel, type CheckLevel } from '../doctor/checks.js';

const MARK: Record<CheckLevel, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', 'n/a': 'n/a ' };

export async function doctorCommand(a: { io: CliIo; paths: Paths; json: boolean }): Promise<number> {
  const results = runChecks(await gatherFacts(a.paths, a.io.env, a.io.home));
  const worst = worstLevel(results);
  if (a.json) a.io.stdout(json({ worst, checks: results }));
  else {
    for (const r of results)
      a.io.stdout(`${MARK[r.level]} ${r.title}: ${r.detail}${r.fix ? `\n     fix: ${r.fix}` : ''}\n`);
    const counts = (['fail', 'warn', 'n/a'] as const).map(
      (l) =>
        `${results.filter((r) => r.level === l).length} ` +
        `${l === 'fail' ? 'failed' : l === 'warn' ? 'warning(s)' : 'not applicable here'}`,
    );
    a.io.stdout(`${results.length} checks: ${counts.join(', ')}\n`);
  }
  return worst === 'fail' ? EXIT.doctorFail : worst === 'warn' ? EXIT.doctorWarn : EXIT.ok;
}
