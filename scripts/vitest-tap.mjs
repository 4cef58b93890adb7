#!/usr/bin/env node
// TAP for machines from vitest's JSON report. Vitest's own TAP reporters print to the
// terminal only (they ignore --outputFile), so the gate asks for JSON and turns it into TAP.
//   node scripts/vitest-tap.mjs REPORT.json OUT.tap
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const yamlString = (s) => JSON.stringify(String(s));
const clean = (s) => String(s).replace(/\s+/g, ' ').replace(/#/g, '\\#').trim();

/** Pure: vitest's JSON report → TAP version 13, one line per test, a YAML block per failure. */
export function tapFromVitestReport(report, root = '') {
  const lines = [];
  for (const file of report.testResults ?? []) {
    const path = root ? relative(root, file.name) : file.name;
    const tests = file.assertionResults ?? [];
    // A file that failed before any test ran (an import error) is one failed test of its own.
    if (file.status === 'failed' && !tests.some((t) => t.status === 'failed')) {
      lines.push({ ok: false, name: path, message: file.message || 'the test file failed' });
    }
    for (const t of tests) {
      const name = [path, ...(t.ancestorTitles ?? []), t.title].map(clean).join(' > ');
      const time = typeof t.duration === 'number' ? ` # time=${t.duration.toFixed(2)}ms` : '';
      if (t.status === 'passed') lines.push({ ok: true, name, directive: time });
      else if (t.status === 'failed')
        lines.push({ ok: false, name, message: (t.failureMessages ?? []).join('\n') || 'failed' });
      else lines.push({ ok: true, name, directive: ` # ${t.status === 'todo' ? 'TODO' : 'SKIP'}` });
    }
  }
  const out = ['TAP version 13', `1..${lines.length}`];
  lines.forEach((l, i) => {
    out.push(`${l.ok ? 'ok' : 'not ok'} ${i + 1} - ${l.name}${l.directive ?? ''}`);
    if (!l.ok)
      out.push(
        '  ---',
        `  message: ${yamlString(l.message.split('\n')[0])}`,
        `  detail: ${yamlString(l.message)}`,
        '  ...',
      );
  });
  return `${out.join('\n')}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: node scripts/vitest-tap.mjs REPORT.json OUT.tap');
    process.exit(2);
  }
  writeFileSync(output, tapFromVitestReport(JSON.parse(readFileSync(input, 'utf8')), process.cwd()));
  console.log(`gate TAP: ${output}`);
}
