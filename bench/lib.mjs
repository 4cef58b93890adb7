// Small timing helpers for the benchmarks (wall clock, median of repeated runs).
import { spawnSync } from 'node:child_process';

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Wall time of a whole process, in ms: median and min of `runs` runs after one warm-up. */
export function timeProcess(cmd, args, { runs = 15, env = process.env, check = true } = {}) {
  const times = [];
  for (let i = 0; i <= runs; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (check && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    if (i > 0) times.push(ms);
  }
  return { median: median(times), min: Math.min(...times), runs };
}

export const fmt = (ms) => `${ms.toFixed(1)} ms`;
export const ratio = (a, b) => `${(a / b).toFixed(2)}×`;

/**
 * Two whole processes run alternately, `runs` pairs after one warm-up pair: the median of each
 * and the median of the per-pair ratios a/b, which holds while the machine's speed drifts.
 */
export function timePaired([cmdA, argsA, optsA = {}], [cmdB, argsB, optsB = {}], runs = 21) {
  const one = (cmd, args, { env = process.env, check = true } = {}) => {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    if (check && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
    return Number(process.hrtime.bigint() - t0) / 1e6;
  };
  const a = [];
  const b = [];
  const ratios = [];
  for (let i = 0; i <= runs; i++) {
    const ta = one(cmdA, argsA, optsA);
    const tb = one(cmdB, argsB, optsB);
    if (i === 0) continue;
    a.push(ta);
    b.push(tb);
    ratios.push(ta / tb);
  }
  return { a: median(a), b: median(b), ratio: median(ratios) };
}
