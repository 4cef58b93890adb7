// `make bench`: runs every benchmark, prints a Markdown table, writes bench/results/latest.md.
import { existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { benchRender } from './render.mjs';
import { benchSupervise } from './supervise.mjs';
import { benchUpdate } from './update.mjs';

const header = [
  `# archy-quadlet benchmarks`,
  '',
  `${new Date().toISOString()} · node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  '',
  '| what | measured (median) | target | |',
  '| --- | --- | --- | --- |',
];
const lab = process.getuid?.() === 0 && existsSync(new URL('../../shared/lab/as-user', import.meta.url));
const rows = [
  ...(process.env.BENCH_NOOP_ONLY ? [] : benchRender()),
  ...(lab ? benchSupervise() : ['| supervisor benchmarks: skipped (need root and ../shared/lab) | | | |']),
  ...(lab && !process.env.BENCH_NOOP_ONLY ? await benchUpdate() : []),
];
const text = [...header, ...rows, ''].join('\n');
process.stdout.write(text);
writeFileSync(new URL('./results/latest.md', import.meta.url), text);
