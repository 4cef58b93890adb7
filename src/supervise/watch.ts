import { makeDir } from '../fs/make-dir.js';
import { watch as chokidarWatch } from 'chokidar';
import { basename, dirname, resolve } from 'node:path';
import type { Supervisor, PassReport } from './supervisor.js';
import { requestPass } from './supervisor.js';
import { STATE_FILE } from './state-store.js';

export interface WatchOptions {
  /** A pass at least this often, changes or not. */
  intervalMs: number;
  /** Changes closer together than this make one pass. */
  debounceMs: number;
  signal: AbortSignal;
  onPass?: (trigger: string, report: PassReport | Error) => void;
  /**
   * The node configuration's files: when one changes the watcher ends ('config-changed'), so
   * that its service restarts it with the new catalog rather than keep the one it started with.
   */
  configFiles?: string[];
}

/**
 * Long-running: a pass when a manifest or the state changes (within about a second), and
 * every `intervalMs` regardless. One pass at a time; on abort (SIGTERM) the current pass
 * finishes and the watcher closes.
 */
export async function watchAndReconcile(sv: Supervisor, o: WatchOptions): Promise<'stopped' | 'config-changed'> {
  await makeDir(sv.paths.stateDir, 0o700);
  const configFiles = new Set((o.configFiles ?? []).map((f) => resolve(f)));
  const watcher = chokidarWatch([sv.paths.appsDir, sv.paths.stateDir, ...configFiles], {
    ignoreInitial: true,
    persistent: true,
  });
  let configChanged: (() => void) | undefined;
  const changedConfig = new Promise<void>((r) => {
    configChanged = r;
  });
  let running: Promise<void> | undefined;
  let again: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const runPass = (trigger: string) => {
    if (o.signal.aborted) return;
    if (running) {
      again = trigger; // one more pass after this one: never two at once, never a change lost
      return;
    }
    running = requestPass(sv)
      .then(
        (r) => o.onPass?.(trigger, r),
        (e: Error) => o.onPass?.(trigger, e),
      )
      .finally(() => {
        running = undefined;
        if (again !== undefined) {
          const t = again;
          again = undefined;
          runPass(t);
        }
      });
  };
  const stateDir = resolve(sv.paths.stateDir);
  const onChange = (path: string) => {
    if (configFiles.has(resolve(path))) {
      configChanged?.();
      return;
    }
    // In the state directory only the intents matter: the pass itself writes the rest
    // (backoff, render cache, the copy of the state), and must not trigger itself.
    if (resolve(dirname(path)) === stateDir && basename(path) !== STATE_FILE) return;
    if (basename(path).startsWith('.archy-quadlet-tmp-')) return;
    clearTimeout(timer);
    timer = setTimeout(() => runPass(`change: ${path}`), o.debounceMs);
  };
  watcher.on('all', (_event, path) => onChange(path));
  await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  runPass('start');
  const interval = setInterval(() => runPass('interval'), o.intervalMs);
  const ended = await new Promise<'stopped' | 'config-changed'>((resolve) => {
    if (o.signal.aborted) resolve('stopped');
    o.signal.addEventListener('abort', () => resolve('stopped'), { once: true });
    void changedConfig.then(() => resolve('config-changed'));
  });
  clearInterval(interval);
  clearTimeout(timer);
  await watcher.close();
  while (running) await running;
  return ended;
}
