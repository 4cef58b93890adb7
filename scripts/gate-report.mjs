#!/usr/bin/env node
// The gate's report for people: reads the results the lifecycle gate and the chaos
// scenarios append (one JSON object per line) and writes a Markdown matrix.
//   node scripts/gate-report.mjs RESULTS.jsonl OUT.md
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export const EVENTS = [
  'install',
  'reachable',
  'stop',
  'start',
  'restart',
  'update',
  'rollback',
  'reinstall',
  'supervisor-restart',
  'reboot',
  'uninstall',
];

export function parseResults(text) {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l);
      } catch {
        throw new Error(`results line ${i + 1} is not JSON: ${l.slice(0, 80)}`);
      }
    });
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;

function wall(ms) {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s} s`;
}

/** Pure: results → Markdown. `meta` carries what the results cannot know (commit, versions). */
export function renderReport(results, meta = {}) {
  const events = results.filter((r) => r.kind === 'event');
  const chaos = results.filter((r) => r.kind === 'chaos');
  const iterations = new Set(events.map((r) => r.iteration)).size;
  const apps = [...new Set(events.map((r) => r.app))];
  const times = results.flatMap((r) => [r.startedAt, r.endedAt]).filter((t) => typeof t === 'number');
  const failures = results.filter((r) => !r.ok);
  const lines = [];
  lines.push('# The production gate');
  lines.push('');
  lines.push(
    'Written by `make gate` (`scripts/gate-report.mjs`) from the results of `test/lifecycle` and `test/chaos`, run in the lab as the rootless user against the installed package.',
  );
  lines.push('');
  const facts = [
    meta.date && `date: ${meta.date}`,
    meta.commit && `commit: ${meta.commit}`,
    meta.versions && `runtime: ${meta.versions}`,
    `iterations: ${iterations}`,
    `events checked: ${events.length} (${apps.length} apps × ${EVENTS.filter((e) => events.some((r) => r.event === e)).length} events × ${iterations} iteration${iterations === 1 ? '' : 's'})`,
    `chaos scenarios: ${new Set(chaos.map((r) => r.scenario)).size} (${chaos.length} runs)`,
    times.length && `wall time: ${wall(Math.max(...times) - Math.min(...times))}`,
    `result: ${failures.length === 0 ? '**green**' : `**red**: ${failures.length} failure(s)`}`,
  ].filter(Boolean);
  for (const f of facts) lines.push(`- ${f}`);
  lines.push('');
  lines.push('## Lifecycle: passes / iterations, slowest time');
  lines.push('');
  const cols = EVENTS.filter((e) => events.some((r) => r.event === e));
  lines.push(`| app | ${cols.join(' | ')} |`);
  lines.push(`|---|${cols.map(() => '---').join('|')}|`);
  for (const app of apps) {
    const cells = cols.map((event) => {
      const rs = events.filter((r) => r.app === app && r.event === event);
      if (rs.length === 0) return '–';
      const passed = rs.filter((r) => r.ok).length;
      const slowest = Math.max(...rs.map((r) => r.ms));
      return `${passed === rs.length ? '' : '**'}${passed}/${rs.length}${passed === rs.length ? '' : '**'} · ${seconds(slowest)}`;
    });
    lines.push(`| ${app} | ${cells.join(' | ')} |`);
  }
  if (chaos.length) {
    lines.push('');
    lines.push('## Chaos: steady state, break it, back within the bound');
    lines.push('');
    lines.push('| # | scenario | bound | slowest recovery | passes |');
    lines.push('|---|---|---|---|---|');
    const scenarios = [...new Set(chaos.map((r) => r.scenario))].sort((a, b) => a - b);
    for (const n of scenarios) {
      const rs = chaos.filter((r) => r.scenario === n);
      const passed = rs.filter((r) => r.ok).length;
      lines.push(
        `| ${n} | ${rs[0].title} | ${seconds(rs[0].boundMs)} | ${seconds(Math.max(...rs.map((r) => r.ms)))} | ${passed}/${rs.length} |`,
      );
    }
  }
  if (failures.length) {
    lines.push('');
    lines.push('## Failures');
    lines.push('');
    for (const f of failures) {
      const where =
        f.kind === 'event' ? `iteration ${f.iteration}, ${f.app}, ${f.event}` : `chaos ${f.scenario}: ${f.title}`;
      lines.push(`- ${where}: ${String(f.error ?? 'failed').split('\n')[0]}`);
    }
  }
  lines.push('');
  return lines.join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: gate-report.mjs RESULTS.jsonl OUT.md');
    process.exit(2);
  }
  if (!existsSync(input)) {
    console.log(`gate report: no results in ${input} (the gate did not run)`);
    process.exit(0);
  }
  const meta = JSON.parse(process.env.ARCHY_GATE_META ?? '{}');
  writeFileSync(output, renderReport(parseResults(readFileSync(input, 'utf8')), meta));
  console.log(`gate report: ${output}`);
}
