#!/usr/bin/env node
// archy-quadlet's systemd user generator (installed by `archy-quadlet setup --system` as
// /etc/systemd/user-generators/archy-quadlet). Lean on purpose: it runs at every boot and
// daemon-reload, in parallel with the other generators. It never fails the boot: every
// problem is reported on stderr (the journal) and the exit status is 0.
import { homedir } from 'node:os';
import { generateUnits } from '../boot/generate-units.js';
import { resolvePaths } from '../paths.js';
import { readNodeConfig } from '../config/node-config.js';
import { BUNDLED_APPS_DIR } from './io.js';
import { DEFAULT_QUADLET_BINS } from '../output/quadlet-generator.js';
import { existsSync } from 'node:fs';

const dirs = process.argv.slice(2);
try {
  if (dirs.length !== 3) throw new Error(`expected 3 directories (normal early late), got ${dirs.length}`);
  const env = process.env;
  const quadletBin = env.ARCHY_QUADLET_BIN ?? DEFAULT_QUADLET_BINS.find((b) => existsSync(b));
  if (!quadletBin) throw new Error('the Quadlet generator is not installed; nothing generated');
  const home = env.HOME || homedir();
  // The node configuration, as every entry point reads it: at boot no shell has set
  // ARCHY_QUADLET_APPS. A malformed file is reported and its good keys used (the boot goes on).
  const config = readNodeConfig(env, home);
  if (config.problems.length > 0) {
    // Rendering from another catalog than the apps came from is worse than not at all:
    // podman-user-generator still brings up their last good units.
    const p = config.problems[0]!;
    throw new Error(`configuration ${p.file}:${p.line}: ${p.message}: nothing generated (the last good units stay)`);
  }
  const paths = resolvePaths({ env, home, bundledAppsDir: BUNDLED_APPS_DIR, config });
  const report = await generateUnits({
    paths,
    dirs: dirs as [string, string, string],
    quadletBin,
    runtimeDir: env.XDG_RUNTIME_DIR,
  });
  for (const s of report.skipped)
    process.stderr.write(`archy-quadlet-generator: ${s.app}: ${s.why} (its last good units stay)\n`);
  if (report.quadlet?.failed)
    process.stderr.write(
      `archy-quadlet-generator: quadlet exited ${report.quadlet.status}: ${report.quadlet.stderr}\n`,
    );
} catch (e) {
  process.stderr.write(`archy-quadlet-generator: ${(e as Error).message}\n`);
}
process.exitCode = 0;
