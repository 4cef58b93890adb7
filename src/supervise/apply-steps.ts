import { makeDir } from '../fs/make-dir.js';
import { chmod, readdir, readFile, rename, rm, rmdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../fs/write-file-atomic.js';
import type { Desired, Step, StepKind, StepOf } from './types.js';
import type { Systemctl } from './systemctl.js';
import type { Podman } from './podman.js';
import { generateSecret } from './generate-secret.js';
import { parseTemplate, renderTemplate } from '../templates/config-template.js';
import { HOOK_DESCRIPTION_PREFIX, PULL_DESCRIPTION_PREFIX } from './systemctl.js';
import { PULL_TIMEOUT_SEC, pullLogName } from './plan-pulls.js';
import { markReloadPending, recordReloadMark, type SupervisorState } from './state-store.js';
import type { BackoffStore } from './supervisor.js';
import { readLastGood, removeLastGood, writeLastGood } from './last-good-store.js';
import { filesHash, runningRendering } from './plan-update.js';
import { systemClock, type Clock } from './observe.js';
import { LOCAL_BUILD_PREFIX } from '../names.js';
import type { NetworkHelpersProbe } from '../podman-heal/network-helpers.js';
import { startHelperUntilRunning } from '../podman-heal/start-helper.js';

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
  runDetached?: (unit: string, argv: string[], options?: DetachedOptions) => Promise<void>;
  /** Records the key of the inputs a template secret was rendered from (see secret-ids.ts). */
  recordTemplateInput?: (secret: string, key: string | undefined) => Promise<void>;
  /** Where each hook's output is kept (`<dir>/<app>/<point>.log`), for explain. */
  hookLogDir?: string;
  /** Where the apps' last good sets are kept (see last-good-store.ts). */
  stateDir?: string;
  /** The clocks deadlines are marked on (default: the system's). */
  clock?: Clock;
  /** Rootless Podman's network helpers as they are now: a restart of one is checked there. */
  networkHelpers?: () => Promise<NetworkHelpersProbe>;
}

/** The moment a deadline counts from, on both clocks (see clock-marks.ts). */
function switchMark(clock: Clock): { switchedAtMs: number; switchedAtMono: number; bootId?: string } {
  const bootId = clock.bootId?.();
  return { switchedAtMs: clock.nowMs(), switchedAtMono: clock.nowMono(), ...(bootId ? { bootId } : {}) };
}

/** The same, as the mark a rollback's deadline counts from. */
function rollbackMark(clock: Clock): { atMs: number; atMono: number; bootId?: string } {
  const m = switchMark(clock);
  return { atMs: m.switchedAtMs, atMono: m.switchedAtMono, ...(m.bootId ? { bootId: m.bootId } : {}) };
}

/** How a hook's transient unit runs: kept after it ends (its result is read), bounded, its output in a file. */
export interface DetachedOptions {
  description: string;
  /** Killed (and failed) after this long. */
  timeoutSec: number;
  /** Standard output and error go here, truncated first. */
  outputFile: string;
}

async function systemdRun(unit: string, argv: string[], o?: DetachedOptions): Promise<void> {
  const { execa } = await import('execa'); // loaded only when a step needs it
  // A hook's unit is not collected: it stays, active (exited) or failed with its exit status,
  // until the pass that reads the result lets it go. Other work is collected when it ends.
  const props = o
    ? [
        `--description=${o.description}`,
        // The command reaches podman exec as written: systemd would otherwise put its own
        // environment into ${VAR} and turn $$ into $ (systemd 254+).
        '--expand-environment=no',
        '--property=RemainAfterExit=yes',
        `--property=RuntimeMaxSec=${o.timeoutSec}`,
        `--property=StandardOutput=truncate:${o.outputFile}`,
        '--property=StandardError=inherit',
      ]
    : ['--collect'];
  await execa('systemd-run', ['--user', '--no-block', '--quiet', ...props, `--unit=${unit}`, '--', ...argv], {
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
  // A helper started again must be seen running: a command that succeeded without starting it
  // (Podman and netavark take a zombie for alive) runs again once it may be reaped, a few times;
  // then the step fails, and the next pass tries again.
  const startHelper = async (helper: 'pasta' | 'aardvark-dns', start: () => Promise<void>) => {
    const probe = d.networkHelpers;
    if (!probe) return start();
    await startHelperUntilRunning(helper, start, async () => {
      const p = await probe();
      return (helper === 'pasta' ? p.rootlessNetns?.helper : p.dns?.helper)?.name !== undefined;
    });
  };
  return {
    async restartNetnsHelper() {
      await startHelper('pasta', () => d.podman.enterRootlessNetns());
    },
    async restartDnsHelper(s) {
      await startHelper('aardvark-dns', () => d.podman.reloadNetwork(s.container));
    },
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
      // Marked under way first, done once it returned: a pass killed in between leaves the
      // next one to mark it. A unit started during the call counts as started before it
      // (restarted once more at worst), never the other way round. A mark that cannot be
      // written only leaves that one race unseen: the reload itself is what the step is for.
      const bootId = d.clock?.bootId?.();
      if (d.stateDir && d.clock) await markReloadPending(d.stateDir, d.clock.nowMono(), bootId).catch(() => undefined);
      await d.systemctl.daemonReload();
      if (d.stateDir && d.clock) await recordReloadMark(d.stateDir, d.clock.nowMono(), bootId).catch(() => undefined);
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
    async renderTemplate(s) {
      const text = await readFile(s.template, 'utf8');
      const parsed = parseTemplate(text);
      if (!parsed.ok)
        throw new Error(`template ${s.template}: line ${parsed.problems[0]!.line}: ${parsed.problems[0]!.message}`);
      // Read here, at apply time, and nowhere else: the output is derived anew on every change
      // of what it is made from, never once at install.
      const values = new Map<string, string>();
      for (const [ref, name] of Object.entries(s.secrets)) {
        const value = await d.podman.secretValue(name);
        if (/[\n\r\0]/.test(value))
          throw new Error(`secret ${name} holds a line break: it cannot go into ${s.template}`);
        values.set(ref, value);
      }
      const output = renderTemplate(parsed.parts, {
        fact: (name) => {
          const v = s.facts[name];
          if (v === undefined) throw new Error(`node fact ${name} not known`);
          return v;
        },
        secret: (ref) => values.get(ref)!,
      });
      await d.podman.putTemplateSecret(s.secret, s.app, output, s.inputKey);
      await d.recordTemplateInput?.(s.secret, s.inputKey);
    },
    async removeRenderedFile(s) {
      await d.podman.removeSecret(s.secret).catch((e: Error) => {
        if (!/no such secret/i.test(e.message)) throw e;
      });
      await d.recordTemplateInput?.(s.secret, undefined);
    },
    async pullImage(s) {
      const dir = join(d.hookLogDir ?? '/tmp', s.app);
      await makeDir(dir, 0o700);
      await runDetached(s.unit, ['podman', 'pull', s.image], {
        description: `${PULL_DESCRIPTION_PREFIX} of ${s.app} [${s.image}]`,
        timeoutSec: PULL_TIMEOUT_SEC,
        outputFile: join(dir, pullLogName(s.unit)),
      });
    },
    async buildImage(s) {
      const dir = join(d.hookLogDir ?? '/tmp', s.app);
      await makeDir(dir, 0o700);
      await runDetached(s.unit, s.argv, {
        description: `${PULL_DESCRIPTION_PREFIX} of ${s.app} [${s.image}]`,
        timeoutSec: PULL_TIMEOUT_SEC,
        outputFile: join(dir, pullLogName(s.unit)),
      });
    },
    async runHook(s) {
      const dir = join(d.hookLogDir ?? '/tmp', s.app);
      await makeDir(dir, 0o700);
      await runDetached(s.unit, s.argv, {
        description: `${HOOK_DESCRIPTION_PREFIX} ${s.point} of ${s.app} [${s.key}]`,
        timeoutSec: s.timeoutSec,
        outputFile: join(dir, `${s.point}.log`),
      });
    },
    async hookDone(s) {
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a) a.hooksDone = { ...a.hooksDone, [s.point]: s.key };
      });
      // Its result is recorded: the transient unit (active, exited) can go.
      if (s.unit) await d.systemctl.stop([s.unit]);
    },
    async setBackoff(s) {
      const { failures, notBeforeMs, delayMs, setMono, bootId } = s;
      d.backoff.set(s.unit, {
        failures,
        notBeforeMs,
        ...(delayMs !== undefined ? { delayMs } : {}),
        ...(setMono !== undefined ? { setMono } : {}),
        ...(bootId !== undefined ? { bootId } : {}),
      });
    },
    async clearBackoff(s) {
      d.backoff.clear(s.unit);
    },
    async forgetApp(s) {
      let forgotten = false;
      let purged = false;
      await d.changeState((state) => {
        // Installed again since this pass looked: the new intent stays.
        if (state.apps[s.app]?.intent === 'absent') {
          purged = state.apps[s.app]?.purge === true;
          delete state.apps[s.app];
          forgotten = true;
        }
      });
      // What its hooks printed (a wallet's seed, say) goes with the app.
      if (forgotten && d.hookLogDir) await rm(join(d.hookLogDir, s.app), { recursive: true, force: true });
      if (forgotten && d.stateDir) await removeLastGood(d.stateDir, s.app);
      // Snapshots are data: they go with a purge, and stay (like the volumes) otherwise.
      if (forgotten && d.stateDir && purged) await rm(snapshotDir(d.stateDir, s.app), { recursive: true, force: true });
    },
    async beginUpdate(s) {
      let set = d.stateDir ? await readLastGood(d.stateDir, s.app) : undefined;
      const app = d.desired.apps.find((a) => a.id === s.app);
      const running = app && s.recordRunning ? runningRendering(app, s.fromHash) : undefined;
      if (d.stateDir && running) {
        // Updated before a pass saw it settled: what runs now is the set to go back to. A file
        // of another set (left by an earlier install) is replaced; one of this set (a pass
        // killed before it changed the state) is kept, and the state is made to say so.
        const recordedAt = set?.hash === s.fromHash ? set.recordedAt : new Date().toISOString();
        if (set?.hash !== s.fromHash) {
          set = { version: 1, hash: s.fromHash, rendered: running, recordedAt };
          await writeLastGood(d.stateDir, s.app, set);
        }
        await d.changeState((state) => {
          const a = state.apps[s.app];
          if (a?.intent === 'running' && a.lastGood?.hash !== s.fromHash)
            a.lastGood = { hash: s.fromHash, recordedAt, ...(running.version ? { version: running.version } : {}) };
        });
      }
      if (!set || set.hash !== s.fromHash) {
        // Its set is gone (or damaged): nothing to go back to, so the update goes on ungated.
        await d.changeState((state) => {
          const a = state.apps[s.app];
          if (a) delete a.lastGood;
        });
        return;
      }
      // The image each container runs now, by id: a rollback restores it even if its tag
      // moved. Not while an update is under way: its containers run the new version then,
      // and what was pinned when it began stays.
      const phase = d.desired.apps.find((a) => a.id === s.app)?.update?.phase;
      const underWay = phase === 'switching' || phase === 'rollingBack';
      const images: NonNullable<typeof set.images> = { ...set.images };
      if (!underWay) {
        const names = set.rendered.containers.map((c) => c.containerName);
        const inspected = (await d.podman.inspectContainers(names)) as Array<{ Name?: string; Image?: string }>;
        for (const c of set.rendered.containers) {
          const id = inspected.find((x) => x.Name === c.containerName)?.Image;
          if (c.image && id) images[c.service] = { ref: c.image, id };
        }
        await writeLastGood(d.stateDir!, s.app, { ...set, images });
      }
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.intent !== 'running') return;
        const was = a.update?.phase === 'switching' || a.update?.phase === 'rollingBack' ? a.update : undefined;
        // Its build may fail and be rolled back: pruned again once the app is back on a set.
        if (a.lastGood) delete a.lastGood.buildsPruned;
        a.update = {
          phase: 'switching',
          toHash: s.toHash,
          fromHash: s.fromHash,
          ...(s.toVersion ? { toVersion: s.toVersion } : {}),
          ...(set.rendered.version ? { fromVersion: set.rendered.version } : {}),
          startedAt: was?.startedAt ?? new Date().toISOString(),
          ...switchMark(d.clock ?? systemClock),
          // The data as the last good set left it, taken once per update (or put back since).
          ...(was?.snapshot ? { snapshot: was.snapshot } : {}),
        };
      });
    },
    async recordLastGood(s) {
      const rendered = d.desired.apps.find((a) => a.id === s.app)?.rendered;
      if (!rendered || filesHash(rendered.files) !== s.hash || !d.stateDir)
        throw new Error(`the rendering of ${s.app} changed since this pass looked: recorded by a later pass`);
      const previous = await readLastGood(d.stateDir, s.app);
      const recordedAt = new Date().toISOString();
      await writeLastGood(d.stateDir, s.app, {
        version: 1,
        hash: s.hash,
        rendered,
        ...(previous?.hash === s.hash && previous.images ? { images: previous.images } : {}),
        recordedAt,
      });
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (!a) return;
        a.lastGood = { hash: s.hash, recordedAt, ...(rendered.version ? { version: rendered.version } : {}) };
        if ((a.update?.phase === 'switching' && a.update.toHash === s.hash) || a.update?.phase === 'rolledBack')
          delete a.update;
      });
    },
    async pruneBuilds(s) {
      // Best effort, once per set: an image that cannot be listed or removed now (Podman
      // failing, a container created meanwhile) is left for the next set, rather than asked
      // for by every pass.
      const images = await d.podman.appImages(s.app).catch(() => []);
      for (const image of images) {
        // In use (the running set's, a stopped container's), the set's own build, or no
        // local build of ours (only `localhost/archy/` tags, or none left): kept.
        if (image.containers > 0 || image.tags.some((t) => s.keep.includes(t))) continue;
        if (!image.tags.every((t) => t.startsWith(LOCAL_BUILD_PREFIX))) continue;
        await d.podman.removeImage(image.id).catch(() => undefined);
      }
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.lastGood?.hash === s.hash) a.lastGood.buildsPruned = true;
      });
    },
    async updateRollBack(s) {
      const set = d.stateDir ? await readLastGood(d.stateDir, s.app) : undefined;
      // Each tag back on the image that ran (a rebuilt or re-pulled tag moved): one gone
      // since cannot be, and the tag is left as it is.
      for (const { ref, id } of Object.values(set?.images ?? {}))
        await d.podman.tagImage(id, ref).catch(() => undefined);
      for (const c of set?.rendered.containers ?? []) d.backoff.clear(c.service);
      for (const c of d.desired.apps.find((a) => a.id === s.app)?.rendered?.containers ?? [])
        d.backoff.clear(c.service);
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.update?.phase === 'switching')
          a.update = {
            ...a.update,
            phase: 'rollingBack',
            reason: s.why,
            rollingBackAt: rollbackMark(d.clock ?? systemClock),
          };
      });
    },
    async snapshotVolumes(s) {
      const dir = snapshotDir(d.stateDir, s.app);
      // A volume the new version adds does not exist yet: nothing of it to keep.
      const existing = await d.podman.volumes();
      const volumes = s.volumes.filter((v) => v in existing);
      // Taken whole beside the last update's, which goes only once this one is there.
      const next = `${dir}.new`;
      await rm(next, { recursive: true, force: true });
      await makeDir(next, 0o700);
      for (const volume of volumes) {
        const tmp = join(next, `.${volume}.tar.tmp`);
        await d.podman.exportVolume(volume, tmp);
        await chmod(tmp, 0o600);
        await rename(tmp, join(next, `${volume}.tar`));
      }
      await rm(dir, { recursive: true, force: true });
      await rename(next, dir);
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.update?.phase === 'switching')
          a.update = { ...a.update, snapshot: { volumes, at: new Date().toISOString() } };
      });
    },
    async restoreVolumes(s) {
      const dir = snapshotDir(d.stateDir, s.app);
      // Every file checked before any volume is emptied: a snapshot that is gone leaves the
      // data as the failed version left it, and the rollback says so.
      const missing: string[] = [];
      for (const volume of s.volumes)
        if (
          !(await stat(join(dir, `${volume}.tar`)).then(
            (st) => st.isFile() && st.size > 0,
            () => false,
          ))
        )
          missing.push(volume);
      if (missing.length === 0)
        for (const volume of s.volumes) await d.podman.restoreVolume(volume, join(dir, `${volume}.tar`));
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.update?.phase !== 'rollingBack') return;
        const note = missing.length
          ? `; the snapshot of ${missing.join(', ')} is missing: the data is as the failed version left it`
          : '';
        a.update = { ...a.update, restored: true, ...(note ? { reason: `${a.update.reason ?? ''}${note}` } : {}) };
      });
    },
    async updateRolledBack(s) {
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.update?.phase === 'rollingBack')
          a.update = { ...a.update, phase: 'rolledBack', ...(s.unhealthy ? { rollbackUnhealthy: s.unhealthy } : {}) };
      });
    },
    async retireContainer(s) {
      // First: podman-restart.service must not start it again at the next boot.
      await d.podman.setRestartPolicy(s.container, 'no');
      if (s.running) {
        await stopDetached(s.container, s.timeoutSec); // renamed by a later pass, once stopped
        return;
      }
      await d.podman.renameContainer(s.container, s.aside);
    },
    async restoreContainer(s) {
      // Renamed while stopped, then started: Podman puts a container's name in the network's
      // DNS when it starts, so one started under its aside name would not be found by its
      // stack under its own (measured, Podman 5.4). A kill after the rename leaves it stopped
      // under its name, which the next pass of the rollback starts; once started, it is marked
      // so, and an old container that exits on its own afterwards is left as it is.
      await d.podman.setRestartPolicy(s.aside ?? s.container, s.restartPolicy);
      if (s.aside) await d.podman.renameContainer(s.aside, s.container);
      if (!s.start) return;
      await d.podman.startContainer(s.container);
      await d.changeState((state) => {
        const c = state.apps[s.app]?.adoption?.containers.find((x) => x.name === s.container);
        if (c) c.restarted = true;
      });
    },
    async adoptSwitch(s) {
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.adoption?.phase === 'retiring')
          a.adoption = { ...a.adoption, phase: 'starting', ...switchMark(d.clock ?? systemClock) };
      });
    },
    async adoptDone(s) {
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.adoption?.phase !== 'starting') return;
        // From now on the app's: a purge removes them (they carry none of our labels).
        const volumes = [...new Set([...(a.adoptedVolumes ?? []), ...(a.adoption.volumes ?? [])])].sort();
        if (volumes.length > 0) a.adoptedVolumes = volumes;
        delete a.adoption;
      });
    },
    async adoptRollBack(s) {
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.adoption && a.adoption.phase !== 'rolledBack')
          a.adoption = { ...a.adoption, phase: 'rollingBack', reason: s.why };
      });
    },
    async adoptRolledBack(s) {
      await d.changeState((state) => {
        const a = state.apps[s.app];
        if (a?.adoption?.phase === 'rollingBack') {
          a.adoption = { ...a.adoption, phase: 'rolledBack' };
          a.intent = 'absent';
        }
      });
    },
    async wait() {},
  };
}

/** Where an app's volume snapshots are kept (the last update's only): `<stateDir>/snapshots/<app>`. */
export function snapshotDir(stateDir: string | undefined, app: string): string {
  if (!stateDir) throw new Error('no state directory to keep snapshots in');
  return join(stateDir, 'snapshots', app);
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
