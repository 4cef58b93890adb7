// `make bench`: runs every benchmark, prints a Markdown table, writes bench/results/latest.md.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { benchRender } from './render.mjs';

const header = [
  `# archy-quadlet benchmarks`,
  '',
  `${new Date().toISOString()} · node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  '',
  '| what | measured (median) | target | |',
  '| --- | --- | --- | --- |',
];
const rows = [...benchRender()];
const text = [...header, ...rows, ''].join('\n');
process.stdout.write(text);
writeFileSync(new URL('./results/latest.md', import.meta.url), text);
