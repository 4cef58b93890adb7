import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UnitFile } from './plan-unit-dir.js';
import { runQuadletDryRun, type GeneratorProblem } from './quadlet-generator.js';

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
 * The real generator's verdict on units before they are written: one dry run over a private
 * staging copy, one subdirectory per app, so a file the generator cannot parse drops only
 * its own app. Used by every writer of unit files (the supervisor's observe, the boot hook,
 * `render --out`). Messages name `shownRoot` (where the files are to be written) instead of
 * the staging copy, gone once checked, so a reason reads the same from one pass to the next.
 */
export async function checkWithGenerator(
  bin: string,
  apps: Map<string, AppUnits>,
  stagingParent = tmpdir(),
  shownRoot?: string,
): Promise<Map<string, GeneratorProblem[]>> {
  const verdicts = new Map<string, GeneratorProblem[]>([...apps.keys()].map((id) => [id, []]));
  if (apps.size === 0) return verdicts;
  const staging = await mkdtemp(join(stagingParent, 'archy-quadlet-staging-'));
  try {
    const owner = new Map<string, string>();
    for (const [id, units] of apps) {
      await mkdir(join(staging, id));
      for (const f of units.files) {
        owner.set(f.name, id);
        await writeFile(join(staging, id, f.name), f.content);
      }
    }
    const context = new Map<string, UnitFile>();
    for (const units of apps.values())
      for (const f of units.context ?? []) if (!owner.has(f.name)) context.set(f.name, f);
    if (context.size > 0) {
      await mkdir(join(staging, CONTEXT_DIR));
      for (const f of context.values()) await writeFile(join(staging, CONTEXT_DIR, f.name), f.content);
    }
    const result = await runQuadletDryRun(bin, [staging]);
    for (const found of result.problems) {
      // A path into the staging copy means nothing once it is gone: the file name says which.
      const { path: _staged, ...raw } = found;
      if (raw.file && context.has(raw.file)) continue; // judged with its own app, not here
      const id =
        (raw.file && owner.get(raw.file)) ?? [...apps.keys()].find((k) => raw.message.includes(join(staging, k)));
      const p = shownRoot ? { ...raw, message: raw.message.replaceAll(staging, shownRoot) } : raw;
      if (id) verdicts.get(id)!.push(p);
      else for (const list of verdicts.values()) list.push(p); // cannot tell whose: nobody passes
    }
    for (const [id, units] of apps) {
      for (const unit of units.services) {
        if (!result.services.has(unit))
          verdicts.get(id)!.push({ severity: 'error', message: `the generator produced no ${unit}` });
      }
    }
    return verdicts;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Where context units are staged: not an app id, so no app's verdict is filed under it. */
const CONTEXT_DIR = '_context';

/** The generator's errors as one line (warnings do not reject). */
export function rejection(problems: GeneratorProblem[]): string | undefined {
  const errors = problems.filter((p) => p.severity === 'error');
  return errors.length > 0 ? errors.map((p) => p.message).join('; ') : undefined;
}
