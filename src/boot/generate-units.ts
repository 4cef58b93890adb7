import { copyFile, mkdtemp, mkdir, readdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Paths } from '../paths.js';
import type { DesiredApp } from '../supervise/types.js';
import { readState } from '../supervise/state-store.js';
import { loadDesired } from '../supervise/load-desired.js';
import { readNodeFacts, readRecordedFacts } from '../supervise/node-facts-adapter.js';
import { readUnitDir } from '../fs/unit-dir.js';
import { planUnitDir, unchanged } from '../output/plan-unit-dir.js';
import { generateWithGenerator, rejection } from '../output/check-units.js';
import { checkContext } from '../supervise/plan-steps.js';
import { filesHash, restorePending } from '../supervise/plan-update.js';
import { readLastGood } from '../supervise/last-good-store.js';

export interface GenerateRequest {
  paths: Paths;
  /** systemd's generator directories: normal, early, late. */
  dirs: [normal: string, early: string, late: string];
  quadletBin: string;
  runtimeDir: string | undefined;
}

export interface GenerateReport {
  /** Apps whose units were generated here (their files on disk were stale or missing). */
  apps: string[];
  /** Apps whose files on disk are current: left to podman-user-generator. */
  current: string[];
  skipped: Array<{ app: string; why: string }>;
  /** Quadlet's run; `failed`: it failed in a way no app rejected above explains. */
  quadlet?: { status: number | null; stderr: string; failed: boolean };
}

/**
 * The boot-time generator hook: the units of every installed app, rendered from the
 * manifests and intents as they are now (even if they changed while the node was off),
 * turned into services by the real Quadlet binary and written into the *early* directory,
 * which systemd reads before the normal one where podman-user-generator writes. So the
 * result does not depend on which generator runs first. Only the output directory is
 * written; no systemctl, no network. Apps whose manifest is unusable are left to
 * podman-user-generator, which still sees their last good files.
 */
/**
 * A running app rolling back whose data is back as it was (or had no snapshot): its last good set,
 * also when its manifest changed since (the update that change asks for goes through a
 * pass's gate, not the boot).
 */
async function withRollbackTarget(stateDir: string, app: DesiredApp): Promise<DesiredApp> {
  if (app.update?.phase !== 'rollingBack' || restorePending(app) || !app.rendered || !app.lastGoodHash) return app;
  if (app.intent !== 'running') return app; // a stopped one's files on disk keep it stopped
  if (filesHash(app.rendered.files) === app.lastGoodHash) return app;
  const set = await readLastGood(stateDir, app.id);
  return set && set.hash === app.lastGoodHash ? { ...app, rendered: set.rendered } : app;
}

export async function generateUnits(req: GenerateRequest): Promise<GenerateReport> {
  const state = await readState(req.paths.stateDir);
  // Generators may write only into their output directories: the render cache is read, not refreshed.
  const desired = await loadDesired(req.paths, state, {
    writeCache: false,
    facts:
      (await readRecordedFacts(req.paths.stateDir)) ??
      readNodeFacts(undefined, undefined, req.paths.nodeNetwork?.subnet),
    validator: () => import('../manifest/validate-manifest.js').then((m) => m.createManifestValidator()),
  });
  desired.apps = await Promise.all(desired.apps.map((a) => withRollbackTarget(req.paths.stateDir, a)));
  const report: GenerateReport = { apps: [], current: [], skipped: [] };
  const parent = req.runtimeDir ?? tmpdir();
  const out = await mkdtemp(join(parent, 'archy-quadlet-generate-'));
  try {
    // Every app's files on disk, read at once (one by one, the waits added up: issue 15).
    const dirs = await Promise.all(
      desired.apps.map((a) => (a.intent === 'absent' ? [] : readUnitDir(join(req.paths.unitRoot, a.id)))),
    );
    for (const [i, app] of desired.apps.entries()) {
      if (app.intent === 'absent') continue;
      // Being adopted, its old containers maybe not yet out of the way (or being put back):
      // a unit started at boot would delete the one of the same name (podman run --replace).
      if (app.adoption?.phase === 'retiring' || app.adoption?.phase === 'rollingBack') {
        report.skipped.push({ app: app.id, why: `being adopted (${app.adoption.phase}): the next pass goes on` });
        continue;
      }
      if (!app.rendered) {
        report.skipped.push({ app: app.id, why: app.error ?? 'manifest unusable' });
        continue;
      }
      // The supervisor's comparison (planUnitDir). Files on disk that already say what the
      // manifest says are podman-user-generator's to turn into units. Only stale apps are
      // overridden here, and only until the next pass rewrites their files: the early unit's
      // SourcePath is our staging copy, which is gone after this run, so systemd keeps asking
      // for a reload while the override lasts.
      const onDisk = dirs[i]!.map((f) => ({
        ...f,
        owned: f.owned !== undefined,
      }));
      const plan = planUnitDir(onDisk, app.rendered.files);
      if (plan.conflicts.length > 0) {
        report.skipped.push({
          app: app.id,
          why: `files not written by archy-quadlet have its unit names: ${plan.conflicts.join(', ')}`,
        });
        continue;
      }
      if (unchanged(plan)) {
        report.current.push(app.id);
        continue;
      }
      // An update under way boots what is on disk: the old units until its snapshot is taken
      // (or its new image is there), the failed ones until its snapshot is put back. Once it
      // is put back (or there is none), a rollback boots the last good set (its desired
      // rendering now): the failed version must not start on the restored data. And a
      // running app whose files on disk are its last good set is updated by a pass, through
      // its gate (new images pulled or built first, health-gated, rolled back, its data
      // snapshotted), never at boot. This also holds at every daemon-reload while a pass keeps
      // those files on purpose (a pull or build pending): overriding them here would leave
      // systemd asking for a reload that only brings the override back.
      const underWay =
        app.update?.phase === 'switching' ||
        (app.update?.phase === 'rollingBack' &&
          (app.intent !== 'running' || restorePending(app) || filesHash(app.rendered.files) !== app.lastGoodHash));
      const onLastGood =
        app.intent === 'running' &&
        app.lastGoodHash !== undefined &&
        filesHash(onDisk.filter((f) => f.owned)) === app.lastGoodHash;
      if (underWay || onLastGood) {
        report.skipped.push({
          app: app.id,
          why: underWay
            ? `an update is under way (${app.update!.phase}): its files on disk boot, and the next pass goes on`
            : 'a new release: its last good units boot, and a pass updates it through its health gate',
        });
        continue;
      }
      report.apps.push(app.id);
    }
    if (report.apps.length > 0) {
      // One real run of Quadlet over the stale apps (with what they reference: the node
      // network, their providers' volumes), into a private directory; its verdicts are those
      // of a dry run. As every writer does: an app whose new units Quadlet rejects keeps its
      // last good ones (left to podman-user-generator from the files on disk), rather than
      // booting on a mix of new units and old, so only the accepted apps' units move to the
      // early directory. Units generated from a referenced file that is current on disk are
      // not moved: podman-user-generator makes those.
      const stale = new Map(
        desired.apps
          .filter((a) => report.apps.includes(a.id))
          .map(
            (a) =>
              [
                a.id,
                { files: a.rendered!.files, services: a.rendered!.services, context: checkContext(a, desired) },
              ] as const,
          ),
      );
      const made = await generateWithGenerator(req.quadletBin, stale, out, parent, req.paths.unitRoot);
      let rejected = 0;
      for (const [id, problems] of made.verdicts) {
        const why = rejection(problems);
        if (!why) continue;
        rejected++;
        report.apps = report.apps.filter((x) => x !== id);
        report.skipped.push({ app: id, why: `Quadlet rejects its new units (its last good units stay): ${why}` });
      }
      const accepted = new Set(report.apps);
      // Of the referenced units: the node's own (the node network) moves when its file on disk
      // says otherwise; a provider's boots from its file on disk (current there, or left on it
      // on purpose: an update under way, a rejection), and moves only when there is none, or
      // the app that needs it would boot without it.
      const nodeFiles = new Map((desired.nodeFiles ?? []).map((f) => [f.name, f.content] as const));
      const fromContext = [...made.sources.values()].some((s) => s.app === undefined);
      const onDisk = fromContext ? await readUnitTree(req.paths.unitRoot) : new Map<string, string>();
      const kept = new Set(
        [...made.sources]
          .filter(([, s]) => {
            if (s.app !== undefined) return accepted.has(s.app);
            if (s.file === '' || accepted.size === 0) return false;
            if (nodeFiles.has(s.file)) return onDisk.get(s.file) !== nodeFiles.get(s.file);
            return !onDisk.has(s.file);
          })
          .map(([svc]) => svc),
      );
      // What a Quadlet that did not finish left behind is not booted: the files on disk are.
      if (!made.crashed) await moveGenerated(out, req.dirs[1], kept);
      report.quadlet = {
        status: made.exitCode,
        stderr: made.stderr,
        // Errors of the apps rejected above are theirs, reported with them; not the others.
        failed:
          made.crashed ||
          made.unattributed.some((p) => p.severity === 'error') ||
          (made.exitCode !== 0 && rejected === 0),
      };
    }
  } finally {
    await rm(out, { recursive: true, force: true });
  }
  return report;
}

/**
 * Moves the accepted units from Quadlet's private output into systemd's directory, with
 * the links that enable them (`default.target.wants/x.service -> ../x.service`, relative, so
 * they hold in the new place). Both are under $XDG_RUNTIME_DIR: a rename, else a copy.
 */
async function moveGenerated(from: string, to: string, units: Set<string>): Promise<void> {
  await mkdir(to, { recursive: true });
  const move = async (src: string, dest: string, link?: string) => {
    try {
      await rename(src, dest);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      if (link !== undefined) await symlink(link, dest);
      else await copyFile(src, dest);
    }
  };
  const entries = await readdir(from, { withFileTypes: true });
  await Promise.all(
    entries.filter((e) => e.isFile() && units.has(e.name)).map((e) => move(join(from, e.name), join(to, e.name))),
  );
  for (const e of entries.filter((x) => x.isDirectory())) {
    const links = (await readdir(join(from, e.name), { withFileTypes: true })).filter((l) => l.isSymbolicLink());
    const targets = await Promise.all(links.map((l) => readlink(join(from, e.name, l.name))));
    const moving = links.filter((_, i) => units.has(basename(targets[i]!)));
    if (moving.length === 0) continue;
    await mkdir(join(to, e.name), { recursive: true });
    await Promise.all(
      moving.map(async (l) => {
        const dest = join(to, e.name, l.name);
        await rm(dest, { force: true });
        await move(join(from, e.name, l.name), dest, targets[links.indexOf(l)]);
      }),
    );
  }
}

/** Every unit file of ours on disk by name (names are unique across the tree: Quadlet's rule). */
async function readUnitTree(root: string): Promise<Map<string, string>> {
  const dirs = await readdir(root).catch(() => [] as string[]);
  const out = new Map<string, string>();
  const lists = await Promise.all(dirs.map((d) => readUnitDir(join(root, d))));
  for (const list of lists) for (const f of list) out.set(f.name, f.content);
  return out;
}
