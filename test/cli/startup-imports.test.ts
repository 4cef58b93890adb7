import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// What a process loads before it does anything is what it pays for on every run (issue 15):
// heavy packages are loaded where a verb needs them (`await import`, createRequire), never by
// a static import on the way from the CLI's entry or the supervisor's pass. Read from the
// sources: static `import ... from` lines only (not `import type`, not dynamic imports).

const SRC = resolve(import.meta.dirname, '../../src');

function staticImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^import\s+(?!type\b)[^'";]*?from\s+'([^']+)';/gms)) out.push(m[1]!);
  for (const m of text.matchAll(/^import\s+'([^']+)';/gm)) out.push(m[1]!);
  return out;
}

/** Every package reached by static imports from `entry`, with the chain that reaches it. */
function packagesReached(entry: string): Map<string, string[]> {
  const seen = new Set<string>();
  const packages = new Map<string, string[]>();
  const walk = (file: string, chain: string[]) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const spec of staticImports(file)) {
      if (spec.startsWith('.')) walk(join(dirname(file), spec.replace(/\.js$/, '.ts')), [...chain, spec]);
      else if (!spec.startsWith('node:') && !packages.has(spec)) packages.set(spec, [...chain, spec]);
    }
  };
  walk(join(SRC, entry), [entry]);
  return packages;
}

describe('start-up: what a process loads before it works', () => {
  it.each([
    ['cli/run.ts', ['commander']],
    ['supervise/supervisor.ts', ['pino']],
    // Manifests the manifest cache knows need neither the YAML parsers nor the schema; nor a
    // render with nothing to diff execa.
    ['cli/validate-command.ts', []],
    ['cli/render-command.ts', []],
  ])('%s statically reaches only %j among the heavy packages', (entry, allowed) => {
    const heavy = ['execa', 'yaml', 'js-yaml', 'ajv', 'ajv/dist/2020.js', 'chokidar', 'pino', 'commander'];
    const reached = packagesReached(entry as string);
    const found = [...reached.keys()].filter((p) => heavy.includes(p) && !(allowed as string[]).includes(p));
    expect(
      found.map((p) => reached.get(p)!.join(' → ')),
      'load these where they are used (await import or createRequire)',
    ).toEqual([]);
  });
});
