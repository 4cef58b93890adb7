// Starting a network helper again (see network-helpers.ts) is one Podman command, but that
// command asks whether the old helper still runs with kill(pid, 0), and a helper killed but not
// yet reaped (a zombie, until the user manager, its reaper, gets to it) answers yes: the
// command then succeeds and starts nothing. Measured in the lab: right after `kill -9` both
// helpers are zombies; the same command a moment later, once they are reaped, starts them.
// So the command is repeated until the helper is seen running, a few times, then given up.

export interface StartHelperOptions {
  /** How many times the command runs at most. */
  attempts?: number;
  /** How long to look for the helper after each run, and how often. */
  watchMs?: number;
  pollMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Runs `start` until `running` says the helper runs; the number of runs it took. Throws when
 * it still does not after `attempts` runs (a pass tries again later; doctor says so).
 */
export async function startHelperUntilRunning(
  helper: string,
  start: () => Promise<void>,
  running: () => Promise<boolean>,
  o: StartHelperOptions = {},
): Promise<number> {
  const attempts = o.attempts ?? 3;
  const watchMs = o.watchMs ?? 1_000;
  const pollMs = o.pollMs ?? 100;
  const sleep = o.sleep ?? pause;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    await start();
    for (let waited = 0; ; waited += pollMs) {
      if (await running()) return attempt;
      if (waited >= watchMs) break;
      await sleep(pollMs);
    }
  }
  throw new Error(`${helper} is still not running after ${attempts} tries`);
}
