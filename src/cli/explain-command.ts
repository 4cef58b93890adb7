import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { adoptionLine, updateLine, json, pullLines } from './format.js';
import { createLogger } from '../supervise/logger.js';
import { createSupervisor } from '../supervise/supervisor.js';
import { checkAppId } from '../supervise/intents.js';
import { readState } from '../supervise/state-store.js';
import { explainApp } from '../explain/gather-evidence.js';
import { diagnose } from '../explain/diagnose.js';

export async function explainCommand(a: { io: CliIo; paths: Paths; app: string; json: boolean }): Promise<number> {
  checkAppId(a.app);
  if (!(await readState(a.paths.stateDir)).apps[a.app]) {
    a.io.stderr(`archy-quadlet: "${a.app}" is not installed (archy-quadlet install ${a.app})\n`);
    return EXIT.invalid;
  }
  const sv = createSupervisor(a.paths, a.io.env, createLogger({ human: a.io.isTty, write: a.io.stderr }));
  const x = await explainApp(sv, a.app, a.io.env);
  const findings = diagnose(x.evidence);
  if (a.json) {
    a.io.stdout(
      json({
        app: x.app,
        manifestFile: x.manifestFile,
        manifest: x.manifest,
        units: x.files,
        services: x.services,
        generatorProblems: x.generatorProblems,
        status: x.view ?? null,
        templates: x.templates,
        hooks: x.hooks,
        findings,
      }),
    );
    return EXIT.ok;
  }
  const out: string[] = [];
  const v = x.view;
  out.push(
    `== ${x.app}: ${v ? `${v.state}${v.converged ? '' : ` (wanted: ${v.desired})`}` : 'unknown'}` +
      `${v?.error ? `\nmanifest problem: ${v.error}` : ''}`,
  );
  out.push(`\n-- manifest: ${x.manifestFile} (credential-like values redacted)\n${x.manifest.trimEnd()}`);
  out.push(`\n-- rendered units`);
  for (const f of x.files) out.push(`--- ${f.name} ---\n${f.content.trimEnd()}`);
  out.push(`\n-- what the Quadlet generator makes of them`);
  for (const [name, text] of Object.entries(x.services)) out.push(`--- ${name} ---\n${text.trimEnd()}`);
  for (const p of x.generatorProblems) out.push(`generator: ${p}`);
  out.push(`\n-- units`);
  for (const u of v?.units ?? [])
    out.push(
      `${u.unit}: ${u.state} (${u.activeState}/${u.subState}), result ${u.result}, ${u.restarts} restart(s)` +
        `${u.failure ? `, last failure: ${u.failure}` : ''}`,
    );
  if (v?.backoff) out.push(`backing off: ${v.backoff}`);
  for (const h of v?.held ?? []) out.push(`held: ${h}`);
  out.push(...pullLines(v?.pulls ?? []));
  if (v?.update) out.push(updateLine(v.update).replace('<app>', v.id));
  if (v?.adoption) out.push(adoptionLine(v.adoption));
  if (x.templates.length > 0) out.push(`\n-- config files rendered from templates (secrets redacted)`);
  for (const t of x.templates)
    out.push(`--- ${t.container}: ${t.template} (Podman secret ${t.secret}) ---\n${t.redacted.trimEnd()}`);
  if (x.hooks.length > 0) out.push(`\n-- hooks`);
  for (const h of x.hooks) {
    out.push(`${h.point} in ${h.container}: ${h.state}${h.ranFor ? `; last ran for ${h.ranFor}` : ''}`);
    for (const line of h.output) out.push(`  | ${line}`);
  }
  if (x.pulls.length > 0) out.push(`\n-- last pull of each new image (before an update's switch)`);
  for (const p of x.pulls) {
    out.push(`${p.container} (${p.unit}):`);
    for (const line of p.output) out.push(`  | ${line}`);
  }
  out.push(`\n-- diagnosis`);
  if (findings.length === 0) out.push('nothing wrong found');
  for (const f of findings)
    out.push(`${f.unit}: [${f.signature}] ${f.cause}${f.evidence ? `\n  log: ${f.evidence}` : ''}\n  fix: ${f.fix}`);
  a.io.stdout(`${out.join('\n')}\n`);
  return EXIT.ok;
}
