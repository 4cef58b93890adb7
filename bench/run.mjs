// `make bench`: runs every benchmark and writes bench/results/latest.md row by row as each is
// measured (a run stopped halfway keeps what it measured), printing each row as well.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { benchRender } from './render.mjs';
import { benchSupervise } from './supervise.mjs';
import { benchUpdate } from './update.mjs';

const out = new URL('./results/latest.md', import.meta.url);
const header = [
  `# archy-quadlet benchmarks`,
  '',
  `${new Date().toISOString()} · node ${process.version} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}`,
  '',
  '| what | measured (median) | target | |',
  '| --- | --- | --- | --- |',
  '',
].join('\n');
writeFileSync(out, header);
process.stdout.write(header);
/** Where each benchmark puts its rows: written out at once. */
const table = {
  push(...rows) {
    const text = rows.map((r) => `${r}\n`).join('');
    appendFileSync(out, text);
    process.stdout.write(text);
  },
};
const lab = process.getuid?.() === 0 && existsSync(new URL('../../shared/lab/as-user', import.meta.url));
if (!process.env.BENCH_NOOP_ONLY) benchRender(table);
if (lab) benchSupervise(table);
else table.push('| supervisor benchmarks: skipped (need root and ../shared/lab) | | | |');
if (lab && !process.env.BENCH_NOOP_ONLY) table.push(...(await benchUpdate()));
