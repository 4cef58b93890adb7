import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { CliIo } from './io.js';
import type { Paths } from '../paths.js';
import { EXIT } from './exit-codes.js';
import { json } from './format.js';
import { createLogger } from '../supervise/logger.js';
import { createSupervisor, currentView } from '../supervise/supervisor.js';
import { readLedger } from '../supervise/pass-ledger.js';
import { METRICS_FILE, nodeMetricsText, setMetricsDir, writeMetricsFile } from '../metrics/node-metrics.js';
import { watchAndReconcile } from '../supervise/watch.js';
import { configFiles } from '../config/node-config.js';
import { onStopSignals } from './stop-signals.js';
import {
  removeUser,
  setupSystem,
  setupUser,
  systemHookState,
  SYSTEM_GENERATOR,
  type SetupAction,
} from '../setup/setup.js';
import { generateUnits } from '../boot/generate-units.js';
import { findQuadlet } from '../output/quadlet-generator.js';

export async function setupCommand(a: {
  io: CliIo;
  paths: Paths;
  system: boolean;
  remove: boolean;
  watch: boolean;
  appsOption?: string | undefined;
  /** A node exporter textfile collector directory every pass writes the metrics into. */
  metricsDir?: string | undefined;
  json: boolean;
}): Promise<number> {
  let actions: SetupAction[];
  const appsDir = a.appsOption ?? a.io.env.ARCHY_QUADLET_APPS;
  try {
    if (a.system) {
      if (process.getuid?.() !== 0) {
        a.io.stderr(
          'archy-quadlet setup --system installs the boot-time generator into /etc/systemd/user-generators: ' +
            'run it as root\n',
        );
        return EXIT.failure;
      }
      actions = await setupSystem({ node: process.execPath, appsDir, remove: a.remove });
    } else {
      const configHome = a.paths.unitRoot.replace(/\/containers\/systemd\/archy-quadlet$/, '');
      actions = a.remove
        ? await removeUser({ configHome })
        : await setupUser({ configHome, node: process.execPath, appsDir, watch: a.watch, user: a.io.env.USER ?? '' });
      if (a.remove) {
        await setMetricsDir(a.paths.stateDir, undefined);
        actions.push({ what: 'passes no longer write metrics (and their file is removed)', done: true });
      } else if (a.metricsDir !== undefined) actions.push(await setupMetrics(a.io, a.paths, a.metricsDir));
      if (!a.remove) {
        const hook = await systemHookState(process.execPath);
        actions.push(
          hook.current
            ? { what: `the boot-time generator hook is installed (${SYSTEM_GENERATOR})`, done: true }
            : {
                what:
                  `the boot-time generator hook is ${hook.installed ? 'from another installation' : 'not installed'}` +
                  ', and needs root',
                done: false,
                hint: 'sudo archy-quadlet setup --system',
              },
        );
      }
    }
  } catch (e) {
    a.io.stderr(`archy-quadlet setup: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
  if (a.json) a.io.stdout(json({ actions }));
  else for (const x of actions) a.io.stdout(`${x.done ? '✓' : '!'} ${x.what}${x.hint ? `\n  → ${x.hint}` : ''}\n`);
  return EXIT.ok;
}

export async function watchCommand(a: { io: CliIo; paths: Paths; intervalSec: number }): Promise<number> {
  const log = createLogger({ human: a.io.isTty, write: a.io.stderr });
  const sv = createSupervisor(a.paths, a.io.env, log);
  const controller = new AbortController();
  const stopListening = onStopSignals(() => controller.abort());
  log.info({ apps: a.paths.appsDir, state: a.paths.stateDir, intervalSec: a.intervalSec }, 'watching');
  let ended: 'stopped' | 'config-changed';
  try {
    ended = await watchAndReconcile(sv, {
      configFiles: configFiles(a.io.env, a.io.home),
      intervalMs: a.intervalSec * 1000,
      debounceMs: 300,
      signal: controller.signal,
      onPass: (trigger, r) => {
        if (r instanceof Error) log.error({ trigger, error: r.message }, 'pass failed');
        else log.info({ trigger, steps: r.applied.flat().length, converged: r.converged }, 'pass');
      },
    });
  } finally {
    stopListening();
  }
  if (ended === 'config-changed') {
    // Its service (Restart=on-failure) starts it again, reading the new configuration.
    log.warn('the node configuration changed: exiting so that the watcher starts again with it');
    return EXIT.failure;
  }
  log.info('stopped');
  return EXIT.ok;
}

export async function generateCommand(a: { io: CliIo; paths: Paths; dirs: string[] }): Promise<number> {
  const quadletBin = await findQuadlet(a.io.env);
  if (!quadletBin) {
    a.io.stderr('archy-quadlet generate: the Quadlet generator is not installed\n');
    return EXIT.failure;
  }
  const report = await generateUnits({
    paths: a.paths,
    dirs: a.dirs as [string, string, string],
    quadletBin,
    runtimeDir: a.io.env.XDG_RUNTIME_DIR,
  });
  for (const s of report.skipped) a.io.stderr(`${s.app}: ${s.why}\n`);
  a.io.stdout(
    `generated the units of ${report.apps.length} app(s) into ${a.dirs[1]}; ` +
      `${report.current.length} app(s) already current on disk\n`,
  );
  return report.quadlet?.failed ? EXIT.failure : EXIT.ok;
}

/** Records where passes write the node's metrics, and writes them there once now. */
async function setupMetrics(io: CliIo, paths: Paths, dir: string): Promise<SetupAction> {
  if (!isAbsolute(dir)) throw new Error(`--metrics ${dir}: must be an absolute path`);
  if (!(await stat(dir).catch(() => undefined))?.isDirectory())
    throw new Error(`--metrics ${dir}: no such directory (the node exporter's --collector.textfile.directory)`);
  const sv = createSupervisor(paths, io.env, createLogger({ human: io.isTty, write: io.stderr }));
  const [view, ledger] = await Promise.all([currentView(sv), readLedger(sv.ledgerPath)]);
  // Written first, so that a directory this user cannot write to is refused before it is recorded.
  await writeMetricsFile(dir, nodeMetricsText(view, ledger)).catch((e: Error) => {
    throw new Error(`--metrics ${dir}: cannot write ${METRICS_FILE} there (${e.message})`);
  });
  await setMetricsDir(paths.stateDir, dir);
  return { what: `every pass writes the node's metrics to ${dir}/${METRICS_FILE}`, done: true };
}
