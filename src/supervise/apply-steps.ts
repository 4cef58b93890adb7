import { makeDir } from '../fs/make-dir.js';
import { readdir, rm, rmdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { Desired, Step, StepKind, StepOf } from './types.js';
import type { Systemctl } from './systemctl.js';
import type { Podman } from './podman.js';
import { generateSecret } from './generate-secret.js';
import type { SupervisorState } from './state-store.js';
import type { BackoffStore } from './supervisor.js';

export type Executors = { [K in StepKind]: (step: StepOf<K>) => Promise<void> };

export interface ApplyDeps {
  unitRoot: string;
  systemctl: Systemctl;
  podman: Podman;
  desired: Desired;
  /** Where setBackoff / clearBackoff go; the pass persists it after the batch. */
  backoff: BackoffStore;
  /** Read, change and write the state file under its lock. */
  changeState: (change: (s: SupervisorState) => void) => Promise<void>;
  /** The state as recorded now (intents may change while a pass runs). */
  readState: () => Promise<SupervisorState>;
  /** Records (or forgets, with undefined) the Podman id of a secret archy-quadlet created. */
  recordSecretId?: (name: string, id: string | undefined) => Promise<void>;
  /** Runs a command in a transient user unit, without waiting for it (systemd-run --user --no-block). */
  runDetached?: (unit: string, argv: string[]) => Promise<void>;
}

async function systemdRun(unit: string, argv: string[]): Promise<void> {
  const { execa } = await import('execa'); // loaded only when a step needs it
  await execa('systemd-run', ['--user', '--no-block', '--collect', '--quiet', `--unit=${unit}`, '--', ...argv], {
    timeout: 30_000,
    stdin: 'ignore',
  });
}

/** One executor per kind of step; a missing one is a compile error. */
export function makeExecutors(d: ApplyDeps): Executors {
  const runDetached = d.runDetached ?? systemdRun;
  // podman stop waits up to the container's stop timeout (600 s for a bitcoind): systemd
  // runs it, so the pass does not wait. A second request while one runs is refused by
  // systemd (the unit exists) and that is fine.
  const stopDetached = (container: string, timeoutSec: number) =>
    runDetached(`archy-quadlet-stop-${container}`, [
      'podman',
      'stop',
      '--ignore',
      '--time',
      String(timeoutSec),
      container,
    ]).catch((e: Error) => {
      if (!/already (exists|loaded)|is active/i.test(e.message)) throw e;
    });
  // Intents are recorded while a pass runs (see requestPass): data goes only if the app is
  // still being purged when the step runs, not merely when the pass looked.
  const stillPurging = async (app: string) => {
    const now = (await d.readState()).apps[app];
    if (now?.intent !== 'absent' || now.purge !== true) {
      throw new Error(`${app} was installed again since this pass looked: its data is kept`);
    }
  };
  return {
    async writeUnit(s) {
      const path = join(d.unitRoot, s.path);
      await makeDir(dirname(path));
      await writeFileAtomic(path, s.content);
    },
    async removeUnit(s) {
      const path = join(d.unitRoot, s.path);
      await rm(path, { force: true });
      if ((await readdir(dirname(path)).catch(() => ['?'])).length === 0)
        await rmdir(dirname(path)).catch(() => undefined);
    },
    async daemonReload() {
      await d.systemctl.daemonReload();
    },
    async ensureSecret(s) {
      // The value exists only here and in Podman's store: never logged, printed or kept.
      const id = await d.podman.createSecret(s.secret, s.app, generateSecret(s.length, s.alphabet));
      await d.recordSecretId?.(s.secret, id);
    },
    async start(s) {
      const app = d.desired.apps.find((a) => a.id === s.app);
      for (const dir of app?.rendered?.dataDirs ?? []) await makeDir(dir, 0o750);
      await d.systemctl.start(s.units);
    },
    async stop(s) {
      await d.systemctl.stop(s.units);
    },
    async restart(s) {
      await d.systemctl.restart(s.units);
    },
    async resetFailed(s) {
      await d.systemctl.resetFailed(s.units);
    },
    async stopContainer(s) {
      await stopDetached(s.container, s.timeoutSec);
    },
    async removeContainer(s) {
      await d.podman.removeContainer(s.container);
    },
    async clearStaleContainer(s) {
      // Observed before this step: if the unit started since, the container may be its own.
      const now = (await d.systemctl.show([s.unit]))[s.unit];
      if (now && now.activeState !== 'inactive' && now.activeState !== 'failed') return;
      if (s.running) {
        await stopDetached(s.container, s.timeoutSec);
        return; // removed by a later pass once stopped (unless it was run with --rm)
      }
      await d.podman.removeContainer(s.container);
    },
    async removeNetwork(s) {
      await d.podman.removeNetwork(s.network);
    },
    async removeImage(s) {
      await d.podman.removeImage(s.image);
    },
    async removeVolume(s) {
      await stillPurging(s.app);
      await d.podman.removeVolume(s.volume);
    },
    async removeSecret(s) {
      await stillPurging(s.app);
      await d.podman.removeSecret(s.secret);
      await d.recordSecretId?.(s.secret, undefined);
    },
    async setBackoff(s) {
      d.backoff.set(s.unit, { failures: s.failures, notBeforeMs: s.notBeforeMs });
    },
    async clearBackoff(s) {
      d.backoff.clear(s.unit);
    },
    async forgetApp(s) {
      await d.changeState((state) => {
        // Installed again since this pass looked: the new intent stays.
        if (state.apps[s.app]?.intent === 'absent') delete state.apps[s.app];
      });
    },
    async wait() {},
  };
}

export interface StepOutcome {
  step: Step;
  ok: boolean;
  error?: string;
  ms: number;
  /** The numbered pass that applied it (see pass-ledger.ts), when it ran through requestPass. */
  pass?: number;
}

/**
 * Applies steps in order. A failing step is reported and the others still run: one broken app never blocks the rest.
 */
export async function applySteps(
  steps: Step[],
  executors: Executors,
  onOutcome: (o: StepOutcome) => void,
): Promise<StepOutcome[]> {
  const outcomes: StepOutcome[] = [];
  for (const step of steps) {
    const t0 = performance.now();
    let outcome: StepOutcome;
    try {
      await (executors[step.kind] as (s: Step) => Promise<void>)(step);
      outcome = { step, ok: true, ms: Math.round(performance.now() - t0) };
    } catch (e) {
      outcome = { step, ok: false, error: (e as Error).message, ms: Math.round(performance.now() - t0) };
    }
    outcomes.push(outcome);
    onOutcome(outcome);
  }
  return outcomes;
}
