import { mkdtemp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Paths } from '../paths.js';
import type { DesiredApp } from '../supervise/types.js';
import { readState } from '../supervise/state-store.js';
import { loadDesired } from '../supervise/load-desired.js';
import { readNodeFacts, readRecordedFacts } from '../supervise/node-facts-adapter.js';
import { readUnitDir } from '../fs/unit-dir.js';
import { planUnitDir, unchanged } from '../output/plan-unit-dir.js';
import { checkWithGenerator, rejection } from '../output/check-units.js';
import { checkContext } from '../supervise/plan-steps.js';
import { filesHash, restorePending } from '../supervise/plan-update.js';
import { readLastGood } from '../supervise/last-good-store.js';
import { NODE_UNITS_DIR, serviceOfUnitFile } from '../names.js';

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
  quadlet?: { status: number | null; stderr: string };
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
  const staging = await mkdtemp(join(req.runtimeDir ?? tmpdir(), 'archy-quadlet-generate-'));
  try {
    for (const app of desired.apps) {
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
      const onDisk = (await readUnitDir(join(req.paths.unitRoot, app.id))).map((f) => ({
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
      await mkdir(join(staging, app.id));
      for (const f of app.rendered.files) await writeFile(join(staging, app.id, f.name), f.content);
      report.apps.push(app.id);
    }
    if (report.apps.length > 0) {
      // As every writer does: an app whose new units Quadlet rejects keeps its last good ones
      // (left to podman-user-generator from the files on disk), rather than booting on a mix
      // of new units and old. Costs a dry run only when some app is stale.
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
      const verdicts = await checkWithGenerator(req.quadletBin, stale, req.runtimeDir ?? tmpdir(), req.paths.unitRoot);
      for (const [id, problems] of verdicts) {
        const why = rejection(problems);
        if (!why) continue;
        await rm(join(staging, id), { recursive: true, force: true });
        report.apps = report.apps.filter((x) => x !== id);
        report.skipped.push({ app: id, why: `Quadlet rejects its new units (its last good units stay): ${why}` });
      }
    }
    if (report.apps.length > 0) {
      // What the stale apps reference (the node network, their providers' volumes) is staged
      // beside them, or Quadlet would drop their units. Units generated from a staged copy of
      // a file that is current on disk are removed after: podman-user-generator makes those.
      const context = new Map<string, { name: string; content: string }>();
      for (const a of desired.apps.filter((x) => report.apps.includes(x.id)))
        for (const f of checkContext(a, desired)) context.set(f.name, f);
      const staged = new Set(
        desired.apps.filter((x) => report.apps.includes(x.id)).flatMap((a) => a.rendered!.files.map((f) => f.name)),
      );
      const onDisk = await readUnitTree(req.paths.unitRoot);
      const generatedHere: string[] = [];
      if (context.size > 0) await mkdir(join(staging, NODE_UNITS_DIR));
      for (const f of context.values()) {
        if (staged.has(f.name)) continue;
        await writeFile(join(staging, NODE_UNITS_DIR, f.name), f.content);
        if (onDisk.get(f.name) === f.content) generatedHere.push(serviceOfUnitFile(f.name)!);
      }
      const r = spawnSync(req.quadletBin, ['-user', '-no-kmsg-log', req.dirs[1]], {
        env: { ...process.env, QUADLET_UNIT_DIRS: staging },
        encoding: 'utf8',
        timeout: 20_000,
      });
      for (const svc of generatedHere) await rm(join(req.dirs[1], svc), { force: true });
      report.quadlet = { status: r.status, stderr: (r.stderr ?? '').trim() };
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return report;
}

/** Every unit file of ours on disk by name (names are unique across the tree: Quadlet's rule). */
async function readUnitTree(root: string): Promise<Map<string, string>> {
  const dirs = await readdir(root).catch(() => [] as string[]);
  const out = new Map<string, string>();
  for (const d of dirs) for (const f of await readUnitDir(join(root, d))) out.set(f.name, f.content);
  return out;
}
