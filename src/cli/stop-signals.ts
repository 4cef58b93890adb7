/**
 * Calls `stop` on SIGTERM and SIGINT until the returned function is called; a second signal
 * (Ctrl-C twice) exits at once, as a kill -9 would, which every operation survives.
 *
 * `process.on`, never `process.once`: execa's children (cleanup on exit) make signal-exit
 * listen for the same signals, and signal-exit kills the process with the signal again when,
 * at delivery, it finds no listener but its own. A `once` listener is removed before the
 * listeners after it run, so a SIGTERM that came while a child of a pass was still running
 * killed the watcher instead of stopping it (a CI failure: no exit code, no "stopped").
 */
export function onStopSignals(stop: () => void): () => void {
  let stopped = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopped) process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
    stopped = true;
    stop();
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  return () => {
    process.off('SIGTERM', handler);
    process.off('SIGINT', handler);
  };
}
