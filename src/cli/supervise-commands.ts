import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { adoptionLine, updateLine, formatError, json, pullLines } from './format.js';
import { createLogger } from '../supervise/logger.js';
import {
  createSupervisor,
  currentView,
  reconcilePass,
  requestPass,
  type PassReport,
  type Supervisor,
} from '../supervise/supervisor.js';
import { changeIntent, checkAppId, IntentError, type IntentChange, type LinkOptions } from '../supervise/intents.js';
import { StateError } from '../supervise/state-store.js';
import { LockTimeoutError } from '../supervise/lock.js';
import { computeStatus, type AppView } from '../supervise/status.js';
import type { Step } from '../supervise/types.js';
import { appSettled, waitFor } from '../supervise/wait-for.js';
import { withoutContent } from '../supervise/pass-ledger.js';

export interface SuperviseArgs {
  io: CliIo;
  paths: Paths;
  json: boolean;
}

export function supervisorFor(a: SuperviseArgs): Supervisor {
  // Step logs go to stderr (JSON for journald, short lines on a terminal); results to stdout.
  return createSupervisor(a.paths, a.io.env, createLogger({ human: a.io.isTty, write: a.io.stderr }));
}

/** Maps the library's errors to messages and exit codes; nothing else is caught. */
export async function guarded(a: SuperviseArgs, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof IntentError) {
      a.io.stderr(`archy-quadlet: ${e.message}\n`);
      for (const err of e.errors) a.io.stderr(`${formatError(err)}\n`);
      return EXIT.invalid;
    }
    if (e instanceof StateError || e instanceof LockTimeoutError) {
      a.io.stderr(`archy-quadlet: ${e.message}\n`);
      return EXIT.failure;
    }
    throw e;
  }
}

export async function intentCommand(
  a: SuperviseArgs & {
    app: string;
    change: IntentChange;
    links?: LinkOptions;
    wait: boolean;
    timeoutSec?: number | undefined;
  },
): Promise<number> {
  return guarded(a, async () => {
    const sv = supervisorFor(a);
    let report = await changeIntent(sv, a.app, a.change, a.links);
    if (a.wait) report = await waitPrinting(sv, a, report);
    const now = await currentView(sv);
    const view = computeStatus(now.desired, now.observed).find((v) => v.id === a.app);
    if (a.json) {
      a.io.stdout(
        json({
          app: a.app,
          change: a.change,
          converged: appSettled(report, a.app),
          nodeConverged: report.converged,
          pending: report.pending,
          applied: report.applied.flat().map(outcomeJson),
          status: view ?? null,
        }),
      );
    } else a.io.stdout(`${summary(a.app, a.change, report, view)}\n`);
    if (a.wait && !appSettled(report, a.app)) return EXIT.timeout;
    // This app's steps only: a report served by another process's pass holds every app's.
    const mine = report.applied.flat().filter((o) => o.step.app === a.app || o.step.app === undefined);
    return mine.some((o) => !o.ok) ? EXIT.failure : EXIT.ok;
  });
}

/**
 * --wait: shows what happens meanwhile (building, pulling, starting, waiting for health,
 * stopping): a line rewritten in place on a terminal, a line per change otherwise, JSON
 * events on stderr with --json; says where the app was if it gives up.
 */
export async function waitPrinting(
  sv: Supervisor,
  a: SuperviseArgs & { app: string; change: IntentChange | 'update'; timeoutSec?: number | undefined },
  first: PassReport,
): Promise<PassReport> {
  let shown = false;
  const result = await waitFor(sv, a.app, a.change, first, {
    timeoutSec: a.timeoutSec,
    onProgress: (p) => {
      const text = `${a.app}: ${p.phase}${p.unit ? ` ${p.unit}` : ''}${p.detail ? ` (${p.detail})` : ''}`;
      if (a.json) {
        const event = {
          event: 'progress',
          app: a.app,
          phase: p.phase,
          unit: p.unit,
          detail: p.detail,
          elapsedSec: p.elapsedSec,
        };
        a.io.stderr(`${JSON.stringify(event)}\n`);
      } else if (a.io.isTty) a.io.stderr(`\r\x1b[K… ${text} ${p.elapsedSec} s`);
      else a.io.stderr(`… ${text}\n`);
      shown = true;
    },
  });
  if (a.io.isTty && !a.json && shown) a.io.stderr('\n');
  if (!result.settled) {
    const p = result.progress;
    const where = p
      ? `still ${p.phase}${p.unit ? ` (${p.unit}${p.detail ? `, ${p.detail}` : ''})` : ''}`
      : 'not there yet';
    const whose = a.timeoutSec === undefined ? " (the app's own timeouts)" : '';
    a.io.stderr(
      `archy-quadlet: ${a.app}: gave up after ${result.limitSec} s${whose}: ${where}; ` +
        `archy-quadlet explain ${a.app} says why\n`,
    );
  }
  return result.report;
}

function summary(app: string, change: IntentChange, r: PassReport, v: AppView | undefined): string {
  const mine = r.applied.flat().filter((o) => o.step.app === app || o.step.app === undefined);
  const issued = mine.filter((o) => o.ok).length;
  const failed = mine.filter((o) => !o.ok);
  const now = v
    ? `${v.state}${v.converged ? '' : ` (wanted: ${v.desired})`}`
    : change === 'uninstall' || change === 'purge'
      ? 'uninstalled'
      : 'unknown';
  const waits = r.pending.filter((s) => s.kind === 'wait' && s.app === app).map((s) => s.reason);
  return [
    `${app}: ${change} recorded; ${issued} step(s) issued` +
      `${failed.length ? `, ${failed.length} failed: ${failed.map((o) => o.error).join('; ')}` : ''}; now ${now}`,
    ...mine
      .filter((o) => o.ok && (o.step.kind === 'removeVolume' || o.step.kind === 'removeSecret'))
      .map((o) =>
        o.step.kind === 'removeVolume'
          ? `  removed volume ${(o.step as { volume: string }).volume}`
          : `  removed secret ${(o.step as { secret: string }).secret}`,
      ),
    ...(waits.length ? [`  in progress: ${[...new Set(waits)].join(', ')}`] : []),
    ...(v?.lastFailure ? [`  last failure: ${v.lastFailure}`] : []),
  ].join('\n');
}

export function outcomeJson(o: { step: Step; ok: boolean; error?: string; ms: number; pass?: number }) {
  const { content: _content, ...rest } = o.step as Step & { content?: string };
  return { ...rest, ok: o.ok, ms: o.ms, ...(o.error ? { error: o.error } : {}), ...(o.pass ? { pass: o.pass } : {}) };
}

export async function reconcileCommand(a: SuperviseArgs & { dryRun: boolean }): Promise<number> {
  return guarded(a, async () => {
    const sv = supervisorFor(a);
    const report = a.dryRun ? await reconcilePass(sv, { dryRun: true }) : await requestPass(sv);
    const plan = a.dryRun ? report.pending.map(withoutContent) : undefined;
    if (a.json) {
      a.io.stdout(
        json({
          dryRun: a.dryRun,
          converged: report.converged,
          ...(plan ? { plan } : { applied: report.applied.flat().map(outcomeJson) }),
          pending: report.pending.filter((s) => s.kind === 'wait'),
          errors: report.errors,
        }),
      );
    } else {
      if (a.dryRun) {
        if (report.pending.length === 0) a.io.stdout('converged: nothing to do\n');
        for (const s of report.pending)
          a.io.stdout(`${s.kind}${describe(s)}${s.app !== undefined ? ` [${s.app}]` : ''}: ${s.reason}\n`);
      } else {
        const n = report.applied.flat().length;
        const pending = report.pending.map((s) => `${s.app ?? 'node'}: ${s.reason}`).join('; ');
        a.io.stdout(`${n} step(s) applied; ${report.converged ? 'converged' : `in progress: ${pending}`}\n`);
      }
      for (const e of report.errors) a.io.stderr(`${e.app}: ${e.message}\n`);
    }
    if (report.applied.flat().some((o) => !o.ok)) return EXIT.failure;
    // An app held on its last good units because its manifest broke: the pass did all it
    // could, and says so (a timer's failed run shows in `systemctl --user status`).
    return report.errors.length > 0 ? EXIT.invalid : EXIT.ok;
  });
}

function describe(s: Step): string {
  if ('units' in s) return ` ${s.units.join(' ')}`;
  if ('path' in s) return ` ${s.path}`;
  if ('container' in s) return ` ${s.container}`;
  if ('secret' in s) return ` ${s.secret}`;
  if ('volume' in s) return ` ${s.volume}`;
  if ('unit' in s && s.unit) return ` ${s.unit}`;
  return '';
}

export async function statusCommand(a: SuperviseArgs & { app?: string }): Promise<number> {
  return guarded(a, async () => {
    if (a.app !== undefined) checkAppId(a.app);
    const sv = supervisorFor(a);
    const view = await currentView(sv);
    let apps = computeStatus(view.desired, view.observed);
    if (a.app) {
      apps = apps.filter((x) => x.id === a.app);
      if (apps.length === 0) throw new IntentError(`"${a.app.slice(0, 64)}" is not installed`);
    }
    if (a.json) {
      a.io.stdout(json({ apps }));
      return EXIT.ok;
    }
    if (apps.length === 0) a.io.stdout('no apps installed (archy-quadlet install APP)\n');
    for (const v of apps) {
      a.io.stdout(`${v.id}: ${v.state}${v.converged ? '' : ` (wanted: ${v.desired})`}\n`);
      for (const u of v.units)
        a.io.stdout(
          `  ${u.unit}: ${u.state} (${u.activeState}/${u.subState})` +
            `${u.failure ? `, last failure: ${u.failure}` : ''}${u.restarts ? `, ${u.restarts} restart(s)` : ''}\n`,
        );
      if (v.provides) a.io.stdout(`  provides: ${v.provides.join(', ')}\n`);
      for (const n of v.needs ?? [])
        a.io.stdout(
          `  needs ${n.iface}${n.optional ? ' (optional)' : ''}: ${n.provider ? `${n.provider}${n.up ? '' : ' (not up)'}` : 'no installed app provides it'}\n`,
        );
      if (v.waiting) a.io.stdout(`  ${v.waiting}\n`);
      for (const h of v.held ?? []) a.io.stdout(`  held: ${h}\n`);
      if (v.backoff) a.io.stdout(`  backing off: ${v.backoff}\n`);
      if (v.error) a.io.stdout(`  manifest problem: ${v.error}\n`);
      for (const l of pullLines(v.pulls ?? [])) a.io.stdout(`  ${l}\n`);
      if (v.update) a.io.stdout(`  ${updateLine(v.update).replace('<app>', v.id)}\n`);
      if (v.adoption) a.io.stdout(`  ${adoptionLine(v.adoption)}\n`);
    }
    return EXIT.ok;
  });
}
