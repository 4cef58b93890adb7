import { spawnSync } from 'node:child_process';
import { mkdtemp, mkdir, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UnitFile } from './plan-unit-dir.js';
import { parseGeneratorStderr, runQuadletDryRun, type GeneratorProblem } from './quadlet-generator.js';

export interface AppUnits {
  files: UnitFile[];
  /** The services these files must generate: one missing is a rejection even without a message. */
  services: string[];
  /**
   * Units of others these files reference (the node network, a provider's volume): staged
   * beside them so that Quadlet finds them, and not judged here.
   */
  context?: UnitFile[];
}

/**
 * Units staged for the generator. Flat, all in one directory, when no two share a name (the
 * catalog refuses two apps generating one unit, so this is the rule): Quadlet looks for
 * drop-ins of every unit in every directory it reads, so its run grows with units ×
 * directories; at 50 apps one directory each took it 1.6× as long as one flat directory
 * (measured, Podman 5.4). Else one subdirectory per app, context units in their own.
 */
interface Staged {
  dir: string;
  /** The staging directory as messages and SourcePath may name it: as made, and resolved (Quadlet resolves links). */
  roots: string[];
  flat: boolean;
  appIds: ReadonlySet<string>;
  /** Unit file name → the app whose file it is. */
  owner: Map<string, string>;
  /** Context units staged (not any staged app's own). */
  context: Map<string, UnitFile>;
}

async function stageUnits(apps: Map<string, AppUnits>, stagingParent: string): Promise<Staged> {
  const dir = await mkdtemp(join(stagingParent, 'archy-quadlet-staging-'));
  const owner = new Map<string, string>();
  let flat = true;
  for (const [id, units] of apps)
    for (const f of units.files) {
      if (owner.has(f.name)) flat = false;
      owner.set(f.name, id);
    }
  const context = new Map<string, UnitFile>();
  for (const units of apps.values())
    for (const f of units.context ?? []) if (!owner.has(f.name)) context.set(f.name, f);
  // Written at once, not one by one: at 50 apps the waits were a tenth of the boot hook.
  const dirs: Array<[string, UnitFile[]]> = flat
    ? [['', [...[...apps.values()].flatMap((units) => units.files), ...context.values()]]]
    : [...apps].map(([id, units]) => [id, units.files]);
  if (!flat && context.size > 0) dirs.push([CONTEXT_DIR, [...context.values()]]);
  await Promise.all(
    dirs.map(async ([sub, files]) => {
      if (sub !== '') await mkdir(join(dir, sub));
      await Promise.all(files.map((f) => writeFile(join(dir, sub, f.name), f.content)));
    }),
  );
  const real = await realpath(dir).catch(() => dir);
  // Longest first: the made path can be the tail of the resolved one (/home → /var/home), and
  // rewriting it first would leave the resolved one's head in front.
  const roots = real === dir ? [dir] : [dir, real].sort((a, b) => b.length - a.length);
  return { dir, roots, flat, appIds: new Set(apps.keys()), owner, context };
}

/** The unit file name that starts `text` (what follows a staged path in a message); systemd's escapes use `\`. */
// A name ends in its type (`.container`...): a `:` or `.` after it is the message's (Go's `open PATH: ...`).
const leadingName = (text: string) => /^[\w@.:\\-]*/.exec(text)![0].replace(/[:.]+$/, '');

/** A message with the staged paths in it naming where the files are to be written (flat: under their app). */
function shownPaths(message: string, staged: Staged, shownRoot: string): string {
  let out = message;
  for (const root of staged.roots) {
    if (staged.flat)
      out = out
        .split(`${root}/`)
        .map((part, i) => {
          if (i === 0) return part;
          return `${shownRoot}/${staged.owner.get(leadingName(part)) ?? CONTEXT_DIR}/${part}`;
        })
        .join('');
    out = out.replaceAll(root, shownRoot);
  }
  return out;
}

/**
 * The app a staged path (relative to the staging directory) belongs to; none for a context
 * file. `relative` is the path alone (a SourcePath), or the rest of a message after it.
 */
function stagedOwner(staged: Staged, relative: string, rest: 'path' | 'message'): { file: string; app?: string } {
  if (staged.flat) {
    const file = rest === 'path' ? relative : leadingName(relative);
    const app = staged.context.has(file) ? undefined : staged.owner.get(file);
    return app ? { file, app } : { file };
  }
  const [dir = '', tail = ''] = relative.split('/');
  const file = rest === 'path' ? tail : leadingName(tail);
  return staged.appIds.has(dir) ? { file, app: dir } : { file };
}

/** The app of the first staged path in a message that belongs to one. */
function ownerInMessage(staged: Staged, message: string): string | undefined {
  for (const root of staged.roots) {
    for (let at = message.indexOf(`${root}/`); at >= 0; at = message.indexOf(`${root}/`, at + 1)) {
      const { app } = stagedOwner(staged, message.slice(at + root.length + 1), 'message');
      if (app) return app;
    }
  }
  return undefined;
}

/** Each app's problems in one run of the generator over the staged units. Pure. */
function verdictsOf(
  apps: Map<string, AppUnits>,
  staged: Staged,
  result: { services: ReadonlySet<string> | ReadonlyMap<string, unknown>; problems: GeneratorProblem[] },
  shownRoot: string | undefined,
): { verdicts: Map<string, GeneratorProblem[]>; unattributed: GeneratorProblem[] } {
  const verdicts = new Map<string, GeneratorProblem[]>([...apps.keys()].map((id) => [id, []]));
  const unattributed: GeneratorProblem[] = [];
  for (const found of result.problems) {
    // A path into the staging copy means nothing once it is gone: the file name says which.
    const { path: _staged, ...raw } = found;
    if (raw.file && staged.context.has(raw.file)) continue; // judged with its own app, not here
    // The path first: in the tree layout (two files of one name) the name alone is ambiguous.
    const id = ownerInMessage(staged, raw.message) ?? (raw.file ? staged.owner.get(raw.file) : undefined);
    const p = shownRoot ? { ...raw, message: shownPaths(raw.message, staged, shownRoot) } : raw;
    if (id) verdicts.get(id)!.push(p);
    else {
      for (const list of verdicts.values()) list.push(p); // cannot tell whose: nobody passes
      unattributed.push(p);
    }
  }
  for (const [id, units] of apps) {
    for (const unit of units.services) {
      if (!result.services.has(unit))
        verdicts.get(id)!.push({ severity: 'error', message: `the generator produced no ${unit}` });
    }
  }
  return { verdicts, unattributed };
}

/**
 * The real generator's verdict on units before they are written: one dry run over a private
 * staging copy (see Staged); each message goes to the app whose file it names, so a file the
 * generator cannot parse drops only its own app. Used by every writer of unit files (the supervisor's observe, `render --out`).
 * Messages name `shownRoot` (where the files are to be written) instead of
 * the staging copy, gone once checked, so a reason reads the same from one pass to the next.
 */
export async function checkWithGenerator(
  bin: string,
  apps: Map<string, AppUnits>,
  stagingParent = tmpdir(),
  shownRoot?: string,
): Promise<Map<string, GeneratorProblem[]>> {
  if (apps.size === 0) return new Map();
  const staged = await stageUnits(apps, stagingParent);
  try {
    return verdictsOf(apps, staged, await runQuadletDryRun(bin, [staged.dir]), shownRoot).verdicts;
  } finally {
    await rm(staged.dir, { recursive: true, force: true });
  }
}

export interface GeneratedUnits {
  /** Each app's problems, as checkWithGenerator gives them. */
  verdicts: Map<string, GeneratorProblem[]>;
  /** Errors no app's file explains (each also filed under every app). */
  unattributed: GeneratorProblem[];
  /** Quadlet did not finish (could not start, timed out, killed): what it left is not used. */
  crashed: boolean;
  exitCode: number | null;
  stderr: string;
  /** Units generated in `outDir`: the file each came from, and its app (none: a context file). */
  sources: Map<string, { file: string; app?: string }>;
}

/**
 * The generator's real run over a staged copy of these apps' units, into `outDir` (a private
 * directory): the units it generates, and the same verdicts as a dry run gives, from one run.
 * For the boot hook, whose cost is Quadlet's own (issue 15): a dry run to judge and then a
 * real run to generate was two. Which app a unit came from is its SourcePath (the staged
 * file), which Quadlet writes into every unit it generates.
 */
export async function generateWithGenerator(
  bin: string,
  apps: Map<string, AppUnits>,
  outDir: string,
  stagingParent = tmpdir(),
  shownRoot?: string,
): Promise<GeneratedUnits> {
  const staged = await stageUnits(apps, stagingParent);
  try {
    const r = spawnSync(bin, ['-user', '-no-kmsg-log', outDir], {
      env: { ...process.env, QUADLET_UNIT_DIRS: staged.dir },
      encoding: 'utf8',
      timeout: 20_000,
    });
    const stderr = (r.stderr ?? '').trim();
    const crashed = r.error !== undefined || r.signal !== null;
    // Quadlet resolves symbolic links in its unit directories: SourcePath names the real path.
    const prefixes = staged.roots.map((root) => `${root}/`);
    const sources = new Map<string, { file: string; app?: string }>();
    const units = (await readdir(outDir, { withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
    const texts = await Promise.all(units.map((name) => readFile(join(outDir, name), 'utf8')));
    units.forEach((name, i) => {
      const source = /^SourcePath=(.*)$/m.exec(texts[i]!)?.[1] ?? '';
      const prefix = prefixes.find((x) => source.startsWith(x));
      sources.set(name, prefix ? stagedOwner(staged, source.slice(prefix.length), 'path') : { file: '' });
    });
    const problems: GeneratorProblem[] = crashed
      ? [{ severity: 'error', message: `${bin} did not finish: ${r.error?.message ?? `killed by ${r.signal}`}` }]
      : [];
    problems.push(...parseGeneratorStderr(stderr));
    // An app's unit counts as generated only when it is known to come from that app's files.
    const generated = new Set([...sources].filter(([, s]) => s.app !== undefined).map(([name]) => name));
    const { verdicts, unattributed } = verdictsOf(apps, staged, { services: generated, problems }, shownRoot);
    return { verdicts, unattributed, crashed, exitCode: r.status, stderr, sources };
  } finally {
    await rm(staged.dir, { recursive: true, force: true });
  }
}

/** Where context units are staged: not an app id, so no app's verdict is filed under it. */
const CONTEXT_DIR = '_context';

/** The generator's errors as one line (warnings do not reject). */
export function rejection(problems: GeneratorProblem[]): string | undefined {
  const errors = problems.filter((p) => p.severity === 'error');
  return errors.length > 0 ? errors.map((p) => p.message).join('; ') : undefined;
}
