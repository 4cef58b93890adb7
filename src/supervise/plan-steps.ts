import {
  portKey,
  type BackoffEntry,
  type Desired,
  type DesiredApp,
  type Observed,
  type Step,
  type UnitStatus,
} from './types.js';
import { planUnitDir, writesFiles, type UnitDirPlan } from '../output/plan-unit-dir.js';
import { isSupportService, NODE_UNITS_DIR, servicesOfUnitFiles } from '../names.js';
import { leftoverHookSteps, planRunningHooks, planUninstallHook } from './plan-hooks.js';
import { adoptionInFlight, planAdoptionGate, planRetiring, planRollingBack } from './plan-adoption.js';
import { buildFileOf, planPulls, type PullPlan } from './plan-pulls.js';
import {
  beginUpdateStep,
  pruneBuildsStep,
  planUpdateRollingBack,
  planUpdateSwitch,
  planVolumeStep,
  restorePending,
  snapshotPending,
} from './plan-update.js';
import { backoffRemainingMs, backoffFrom } from './clock-marks.js';
import { planNetworkHelpers } from './plan-network-helpers.js';

/** Crash-loop backoff: 5 s, doubling, at most 5 min; forgotten after a minute of health. */
export const BACKOFF = { baseSec: 5, capSec: 300, healthySec: 60 } as const;

const SEC = 1_000_000; // µs

/**
 * The next batch of steps from what should be to what is. Pure. Files come first (one
 * daemon-reload after them), then start, stop, restart; the caller applies the batch,
 * observes again and plans again. A converged node plans [].
 */
export function planSteps(desired: Desired, observed: Observed): Step[] {
  const apps = withOrphans(desired, observed);
  const fileSteps = [...planNodeFiles(desired, observed), ...apps.flatMap((app) => planFiles(app, observed))];
  if (fileSteps.some((s) => s.kind === 'writeUnit' || s.kind === 'removeUnit'))
    return [...fileSteps, { kind: 'daemonReload', reason: 'unit files changed' }];
  if (fileSteps.length > 0) return fileSteps; // updates recorded before their files are written
  // One app's outdated definitions must not starve the others: a reload that did not clear
  // them in this pass is not asked for again before the next one.
  const reloadHelps = !observed.reloadFruitless;
  const outdated = apps.flatMap((app) => servicesOf(app, observed)).filter((s) => observed.units[s]?.needDaemonReload);
  if (outdated.length > 0 && reloadHelps) {
    return [{ kind: 'daemonReload', reason: `systemd holds outdated definitions of ${outdated.join(', ')}` }];
  }
  // A reload that never happened (the manager re-executed as it came, or the pass was killed
  // between writing and reloading): the files are on disk, unchanged, and nothing else would
  // ever reload them. Not for a file Quadlet rejects: a reload would not help.
  const unloaded = apps.flatMap((app) => servicesOf(app, observed)).filter((s) => observed.generatedNow?.[s] === true);
  if (unloaded.length > 0 && reloadHelps) {
    const what = unloaded.join(', ');
    return [
      {
        kind: 'daemonReload',
        reason: `systemd has not loaded ${what}, which Quadlet generates from the files on disk`,
      },
    ];
  }
  return [...planNetworkHelpers(desired, observed), ...planApps(apps, observed)];
}

/**
 * The node's own files (the node network): written when missing or changed, never removed
 * (every app that links references it; it holds no data). A file there that is not ours is
 * left alone, and the apps that need it wait for a person (Quadlet would use that one).
 */
function planNodeFiles(desired: Desired, o: Observed): Step[] {
  if (!desired.nodeFiles) return [];
  const existing = o.nodeFiles ?? [];
  return desired.nodeFiles.flatMap((f): Step[] => {
    const found = existing.find((e) => e.name === f.name);
    if (found && (!found.owned || found.content === f.content)) return [];
    const reason = !found ? 'node network file missing' : found.intact ? 'node network changed' : 'edited by hand';
    return [{ kind: 'writeUnit', path: `${NODE_UNITS_DIR}/${f.name}`, content: f.content, reason }];
  });
}

/**
 * The apps' steps, with each dependent's container started only while its provider is up or
 * starting in this same batch: systemd then holds the start until the provider is active
 * (After=). Started while the provider is down it would fail at once (Requisite=), so it waits
 * instead, named, and a later pass looks again. Which providers start in this batch depends on
 * their own providers: planned again until that settles (chains are short).
 */
function planApps(apps: DesiredApp[], o: Observed): Step[] {
  // Providers whose update is being watched or rolled back: their dependents wait for them.
  const updating = new Set(
    apps.filter((a) => a.update?.phase === 'switching' || a.update?.phase === 'rollingBack').map((a) => a.id),
  );
  const live = (svc: string) => ['active', 'activating', 'reloading'].includes(o.units[svc]?.activeState ?? '');
  let starting: Set<string> | undefined; // first round: every start allowed
  let stopping = new Set<string>(); // a provider stopped in this batch is not up (its stop runs first)
  for (let round = 0; ; round++) {
    const seen = starting;
    const down = stopping;
    const downBecause = (svc: string) =>
      seen === undefined
        ? undefined
        : down.has(svc)
          ? 'stopping'
          : live(svc) || seen.has(svc)
            ? undefined
            : providerState(o, svc);
    const steps = apps.flatMap((app) => heldForProviders(app, planApp(app, o, downBecause), updating));
    const next = new Set(steps.flatMap((s) => (s.kind === 'start' ? s.units : [])));
    if (round === 0) stopping = new Set(steps.flatMap((s) => (s.kind === 'stop' ? s.units : [])));
    if ((seen && next.size === seen.size && [...next].every((u) => seen.has(u))) || round > apps.length)
      return providersFirst(steps, apps);
    starting = next;
  }
}

/**
 * A dependent's starts and restarts of containers linked to a provider being updated (or
 * rolled back) wait until the provider is healthy again or back on its last good set: they
 * would start against a provider that may yet go back, or fail its health checks meanwhile.
 */
function heldForProviders(app: DesiredApp, steps: Step[], updating: Set<string>): Step[] {
  if (updating.size === 0) return steps;
  const linked = new Map(
    (app.rendered?.containers ?? []).flatMap((c) => {
      const w = c.waitsFor.find((x) => x.provider !== app.id && updating.has(x.provider));
      return w ? [[c.service, w.provider] as const] : [];
    }),
  );
  if (linked.size === 0) return steps;
  // Updated together with its provider (a release of both): the dependent's gate judges
  // nothing while the provider moves under it (its units held, or failing against a provider
  // that restarts); it waits, and is judged once the provider is healthy again or back.
  const providers = [...new Set(linked.values())].join(', ');
  return steps.flatMap((s): Step[] => {
    if (s.kind === 'updateRollBack' && app.update?.phase === 'switching' && !/manifest went back/.test(s.why))
      return [
        {
          kind: 'wait',
          app: app.id,
          reason: `updating: judged once ${providers} is no longer being updated (now: ${s.why})`,
        },
      ];
    if (s.kind !== 'start' && s.kind !== 'restart') return [s];
    const go = s.units.filter((u) => !linked.has(u));
    const held = s.units.filter((u) => linked.has(u));
    return [
      ...(go.length > 0 ? [{ ...s, units: go }] : []),
      ...held.map(
        (unit): Step => ({
          kind: 'wait',
          app: app.id,
          unit,
          reason: `${s.kind === 'start' ? 'start' : 'restart'} held while ${linked.get(unit)} is being updated`,
        }),
      ),
    ];
  });
}

/**
 * The batch's start steps in dependency order (providers before their dependents), each in
 * the place a start step had: every start is its own `systemctl start --no-block`, and a
 * dependent's Requisite= is checked when its job is queued, so its provider's job must be
 * queued first. Everything else keeps its order.
 */
function providersFirst(steps: Step[], apps: DesiredApp[]): Step[] {
  const rank = new Map<string, number>();
  const rankOf = (id: string, trail: string[] = []): number => {
    if (rank.has(id)) return rank.get(id)!;
    const app = apps.find((a) => a.id === id);
    const providers = (app?.rendered?.needs ?? []).flatMap((n) =>
      n.provider && !trail.includes(n.provider) ? [n.provider] : [],
    );
    const r = providers.length === 0 ? 0 : 1 + Math.max(...providers.map((p) => rankOf(p, [...trail, id])));
    rank.set(id, r);
    return r;
  };
  const starts = steps.filter((s) => s.kind === 'start');
  const ordered = [...starts].sort((a, b) => rankOf(a.app!) - rankOf(b.app!)); // stable
  let i = 0;
  return steps.map((s) => (s.kind === 'start' ? ordered[i++]! : s));
}

function providerState(o: Observed, service: string): string {
  const u = o.units[service];
  if (!u || u.loadState === 'not-found') return 'not set up yet';
  return u.activeState === 'inactive' ? 'stopped' : u.activeState;
}

/** Apps whose files are on disk but which are not installed: ours to stop and remove. */
function withOrphans(desired: Desired, observed: Observed): DesiredApp[] {
  const known = new Set(desired.apps.map((a) => a.id));
  const orphans = Object.keys(observed.files)
    .filter((id) => !known.has(id) && observed.files[id]!.some((f) => f.owned))
    .sort()
    .map((id): DesiredApp => ({ id, intent: 'absent', purge: false, orphan: true }));
  return [...desired.apps, ...orphans];
}

/**
 * How an app's unit directory compares with its rendering (the one comparison every writer
 * uses: see planUnitDir). Undefined when there is nothing to compare: the app is being
 * removed, or its manifest is unusable and its last good files are held as they are.
 */
export function unitFilePlan(app: DesiredApp, files: Observed['files']): UnitDirPlan | undefined {
  if (app.intent === 'absent' || !app.rendered) return undefined;
  return planUnitDir(files[app.id] ?? [], app.rendered.files);
}

/**
 * Apps whose files a pass would write: what observe has the real generator check first.
 * An app with a conflicting file writes nothing, so it is not among them.
 */
export function appsToCheck(desired: Desired, files: Observed['files']): DesiredApp[] {
  return desired.apps.filter((app) => {
    const plan = unitFilePlan(app, files);
    return plan !== undefined && plan.conflicts.length === 0 && writesFiles(plan);
  });
}

/**
 * Units of others that an app's files reference, for the generator's check of them: the node
 * network, and the .volume files of the providers it is linked to (Quadlet drops a unit that
 * names one it cannot find).
 */
export function checkContext(app: DesiredApp, desired: Desired): Array<{ name: string; content: string }> {
  const providers = new Set((app.rendered?.needs ?? []).flatMap((n) => (n.provider ? [n.provider] : [])));
  return [
    ...(desired.nodeFiles ?? []),
    ...desired.apps
      .filter((a) => providers.has(a.id))
      .flatMap((a) => (a.rendered?.files ?? []).filter((f) => f.name.endsWith('.volume'))),
  ];
}

function planFiles(app: DesiredApp, o: Observed): Step[] {
  const existing = o.files[app.id] ?? [];
  // Adoption: no unit file while an old container has its unit's container name (Quadlet's
  // --replace would delete it); none left after a rollback.
  if (app.adoption?.phase === 'retiring') return [];
  if (app.intent === 'absent' || app.adoption?.phase === 'rollingBack') {
    const owned = existing.filter((f) => f.owned);
    if (owned.length === 0) return [];
    if (servicesOf(app, o).some((s) => isUp(o.units[s]))) return []; // stop first, remove after
    return owned.map(
      (f) =>
        ({
          kind: 'removeUnit',
          app: app.id,
          path: `${app.id}/${f.name}`,
          reason: app.intent === 'absent' ? 'app uninstalled' : 'adoption rolled back',
        }) as const,
    );
  }
  const plan = unitFilePlan(app, o.files);
  // Held (reported by planApp): a file we did not write has one of our names, or the real
  // generator rejects the new files. The last good files stay as they are.
  if (!plan || plan.conflicts.length > 0 || (o.rejectedRenders?.[app.id] !== undefined && writesFiles(plan))) return [];
  // A running app's new images are pulled first (planned with the app): its files wait.
  if (pullPending(app, o)) return [];
  const steps = plan.changes.flatMap((c): Step[] => {
    const path = `${app.id}/${c.name}`;
    if (c.action === 'create')
      return [{ kind: 'writeUnit', app: app.id, path, content: c.after!, reason: 'unit file missing' }];
    if (c.action === 'update') {
      const edited = existing.find((f) => f.name === c.name && !f.intact);
      const reason = edited ? 'unit file edited by hand' : 'manifest changed';
      return [{ kind: 'writeUnit', app: app.id, path, content: c.after!, reason }];
    }
    if (c.action === 'remove')
      return [{ kind: 'removeUnit', app: app.id, path, reason: 'no longer rendered from the manifest' }];
    return [];
  });
  // A running app's update is recorded first, alone: its files are written by the next batch,
  // after its snapshot if it takes one (a reboot before that boots the old units).
  const begin = steps.length > 0 ? beginUpdateStep(app, o) : undefined;
  if (begin) return [begin];
  return snapshotPending(app) || restorePending(app) ? [] : steps;
}

/** Why a provider's service is not up (nor started in this batch); undefined when it is. */
type ProviderDown = (service: string) => string | undefined;

function planApp(app: DesiredApp, o: Observed, providerDown: ProviderDown): Step[] {
  switch (app.adoption?.phase) {
    case 'retiring':
      return planRetiring(app, o);
    case 'starting':
      return planAdoptionGate(app, o, planAppAsUsual(app, o, providerDown));
    case 'rollingBack': {
      const all = servicesOf(app, o);
      const stopping = planStopped(app, o, [...all.filter(isSupportService), ...containerServicesOf(app, o)]);
      const gone = !all.some((s) => isUp(o.units[s])) && !(o.files[app.id] ?? []).some((f) => f.owned);
      return planRollingBack(app, o, stopping, gone);
    }
    default: {
      const pulls = pullsOf(app, o);
      if (!pulls || pulls.steps.length === 0) return gated(app, o, planAppAsUsual(app, o, providerDown));
      if (!pulls.blocking) {
        // Finished or unneeded pull units go; an uninstall forgets the app only after that.
        const usual = planAppAsUsual(app, o, providerDown).filter((s) => s.kind !== 'forgetApp');
        return gated(app, o, [...pulls.steps, ...usual]);
      }
      // A new app (no file yet) has nothing else to do while its images are pulled.
      if (!(o.files[app.id] ?? []).some((f) => f.owned)) return pulls.steps;
      // An app being updated goes on as it is, on its current files, meanwhile: no hook runs
      // (a postUpdate hook of the new version would run in the old container) and no config
      // file its current units mount is removed.
      const hookUnits = new Set((app.rendered?.hooks ?? []).map((h) => h.unit));
      const onHook = (s: Step) =>
        s.kind === 'runHook' ||
        s.kind === 'hookDone' ||
        ('units' in s && s.units.every((u) => hookUnits.has(u))) ||
        ('unit' in s && s.unit !== undefined && hookUnits.has(s.unit));
      const usual = planAppAsUsual(app, o, providerDown).filter((s) => s.kind !== 'removeRenderedFile' && !onHook(s));
      return [...pulls.steps, ...usual];
    }
  }
}

/** A running app being updated: its usual steps, through the update's gate (plan-update.ts). */
function gated(app: DesiredApp, o: Observed, usual: Step[]): Step[] {
  if (app.intent !== 'running') return usual;
  // An unusable manifest mid-update: its units are held as they are, and nothing is judged.
  if (!app.rendered) return usual;
  if (snapshotPending(app) || restorePending(app)) return planVolumeStep(app, o, containerServicesOf(app, o));
  if (app.update?.phase === 'switching') return planUpdateSwitch(app, o, usual);
  // Going back is no update: the last good version's postUpdate hook does not run again.
  const back = usual.filter((s) => !(s.kind === 'runHook' && s.point === 'postUpdate'));
  if (app.update?.phase === 'rollingBack') return planUpdateRollingBack(app, o, back);
  if (app.update?.phase === 'rolledBack') return back;
  return [...usual, ...pruneBuildsStep(app, o, usual)];
}

/**
 * The pulls before a running app's changed unit files are written, or the clearing of pull
 * units no longer needed (plan-pulls.ts); undefined for an app being adopted, with nothing
 * rendered, or whose files are held (a file it did not write, a render Quadlet
 * rejects: nothing would be written, so nothing is pulled).
 */
function pullsOf(app: DesiredApp, o: Observed): PullPlan | undefined {
  if (adoptionInFlight(app) || !app.rendered) return undefined;
  const plan = unitFilePlan(app, o.files);
  if (app.intent === 'running' && (!plan || plan.conflicts.length > 0 || o.rejectedRenders?.[app.id] !== undefined))
    return undefined;
  const changing = new Set(
    app.intent !== 'running'
      ? []
      : (plan?.changes ?? []).filter((c) => c.action === 'create' || c.action === 'update').map((c) => c.name),
  );
  return planPulls(app, o, changing);
}

/** New images are being pulled (or wait to be) before the app's changed unit files are written. */
export function pullPending(app: DesiredApp, o: Observed): boolean {
  return app.intent === 'running' && pullsOf(app, o)?.blocking === true;
}

function planAppAsUsual(app: DesiredApp, o: Observed, providerDown: ProviderDown): Step[] {
  const plan = unitFilePlan(app, o.files);
  if (plan && plan.conflicts.length > 0) {
    // Never started from a file someone else wrote, never overwritten: a person decides.
    return plan.conflicts.map((name) => {
      const path = `${app.id}/${name}`;
      return {
        kind: 'wait',
        app: app.id,
        path,
        held: true,
        reason: `${path} in the unit directory was not written by archy-quadlet: move it away (the app is held)`,
      };
    });
  }
  const rejected = o.rejectedRenders?.[app.id];
  const held: Step[] = rejected
    ? [
        {
          kind: 'wait',
          app: app.id,
          held: true,
          reason: `Quadlet rejects the new units (its last good units stay): ${rejected}`,
        },
      ]
    : [];
  if (app.intent === 'running') return [...held, ...planRunning(app, o, providerDown)];
  if (app.intent === 'stopped') return [...held, ...planStopped(app, o, containerServicesOf(app, o))];
  return planAbsent(app, o);
}

function planRunning(app: DesiredApp, o: Observed, providerDown: ProviderDown): Step[] {
  const steps: Step[] = [];
  const id = app.id;
  if (app.rendered && o.secrets) {
    for (const s of app.rendered.secrets) {
      if (!(s.name in o.secrets) && app.importedSecrets?.includes(s.name))
        // Its value is the old node's (a database's password fixed at its init): a new one
        // would lock the app out of its own data.
        steps.push({
          kind: 'wait',
          app: id,
          held: true,
          reason: `secret ${s.name}, imported at adoption, is missing: create it again with its old value (podman secret create ${s.name} FILE)`,
        });
      else if (!(s.name in o.secrets))
        steps.push({
          kind: 'ensureSecret',
          app: id,
          secret: s.name,
          length: s.length,
          alphabet: s.alphabet,
          reason: 'secret missing',
        });
    }
  }
  const start: string[] = [];
  const restart: string[] = [];
  const reset: string[] = [];
  for (const svc of containerServicesOf(app, o)) {
    const u = o.units[svc];
    const backoff = o.backoff[svc];
    if (!u || u.loadState === 'not-found') {
      const why =
        o.generatedNow?.[svc] === false
          ? `Quadlet generates no ${svc} from its file (archy-quadlet explain ${id} says why)`
          : `${svc} is not known to systemd (did the Quadlet generator reject its file?)`;
      steps.push({ kind: 'wait', app: id, unit: svc, reason: why });
      continue;
    }
    switch (u.activeState) {
      case 'active':
      case 'reloading': {
        const c = app.rendered?.containers.find((x) => x.service === svc);
        // Its own file, or its image's .build file (a new tag: the image it runs changed).
        const names = [c?.file, c?.buildService ? buildFileOf(c.buildService) : undefined];
        const changed = (o.files[id] ?? []).some((f) => names.includes(f.name) && runsOlderFile(f, u, o));
        if (app.restartRequestedAt !== undefined && startedMs(u, o) < app.restartRequestedAt) restart.push(svc);
        else if (changed) restart.push(svc);
        else if (backoff && o.nowMono - u.activeEnterMono >= BACKOFF.healthySec * SEC) {
          steps.push({ kind: 'clearBackoff', app: id, unit: svc, reason: `healthy for ${BACKOFF.healthySec} s` });
        }
        break;
      }
      case 'activating':
        steps.push({
          kind: 'wait',
          app: id,
          unit: svc,
          reason:
            u.subState === 'auto-restart'
              ? 'restarting after a crash'
              : app.rendered?.containers.find((c) => c.service === svc)?.oneshot
                ? 'init container running to completion'
                : 'starting',
        });
        break;
      case 'deactivating':
        steps.push({ kind: 'wait', app: id, unit: svc, reason: 'stopping' });
        break;
      case 'failed':
      case 'inactive': {
        if (u.jobQueued) {
          steps.push({
            kind: 'wait',
            app: id,
            unit: svc,
            reason: 'start queued: waiting for the units it is ordered after',
          });
          break;
        }
        const down = app.rendered?.containers
          .find((c) => c.service === svc)
          ?.waitsFor.find((w) => providerDown(w.service) !== undefined);
        if (down) {
          const reason = `waiting for ${down.iface} (${down.provider} is ${providerDown(down.service)})`;
          steps.push({ kind: 'wait', app: id, unit: svc, reason });
          break;
        }
        const missing = missingBindFiles(app, svc, o);
        if (missing.own.length > 0) {
          // A start would fail (Podman does not create a bind source), and making it would
          // mount an empty folder where the app reads a file: held until a person puts it there.
          const envFiles = new Set(app.rendered?.containers.find((c) => c.service === svc)?.envFiles ?? []);
          for (const path of missing.own)
            steps.push({
              kind: 'wait',
              app: id,
              unit: svc,
              held: true,
              reason: envFiles.has(path)
                ? `environment file ${path} is missing: put it there`
                : `bind source ${path} is missing (a file: archy-quadlet never creates it): put it there`,
            });
          break;
        }
        if (missing.required) {
          // Its start would start the container it requires (Requires=), which would fail: held
          // above, with the path; this one starts once that one can.
          const { service, path } = missing.required;
          steps.push({
            kind: 'wait',
            app: id,
            unit: svc,
            reason: `waiting for ${service}: ${envFileOf(app, path) ? 'environment file' : 'bind source'} ${path} is missing`,
          });
          break;
        }
        const blocked = requiredBackingOff(app, svc, o);
        if (blocked) {
          // Its start would start that one at once (Requires=), past its backoff: a failing
          // init container would run again on every pass.
          steps.push({
            kind: 'wait',
            app: id,
            unit: svc,
            reason: `waiting for ${blocked} (backing off after a failure)`,
          });
          break;
        }
        if (backoff && backoffRemainingMs(backoff, o) > 0) {
          const sec = Math.ceil(backoffRemainingMs(backoff, o) / 1000);
          steps.push({
            kind: 'wait',
            app: id,
            unit: svc,
            reason: `backing off after ${backoff.failures} failure(s): next start in ${sec} s`,
          });
          break;
        }
        const inTheWay = containerInTheWay(app, svc, o);
        if (inTheWay) {
          steps.push(inTheWay);
          break; // started by a later pass, once nothing is in its way
        }
        const busy = busyPortsOf(app, svc, o);
        if (busy.length > 0) {
          // pasta would fail to bind it: a failed start. It frees up once the container that
          // held it is gone; anything else holding it is shown here until it lets go.
          steps.push({
            kind: 'wait',
            app: id,
            unit: svc,
            reason: `host port ${busy.join(', ')} in use: starting once it is free`,
          });
          break;
        }
        if (u.activeState === 'failed') {
          reset.push(svc);
          steps.push(backoffStep(id, svc, backoff, o));
        }
        start.push(svc);
        break;
      }
      default:
        steps.push({ kind: 'wait', app: id, unit: svc, reason: `unit is ${u.activeState}` });
    }
  }
  // Started once its secrets exist: the next batch renders their ids into its units, and a
  // start now would be followed at once by a restart for that file change.
  const creating = steps.some((s) => s.kind === 'ensureSecret');
  // Config files before the containers that mount them: a container whose rendered file is
  // stale waits while it is rendered (and recorded) in this batch, and starts or restarts in
  // the next. A render that fails is tried again every pass, and a container never runs on a
  // file that no longer matches its secrets.
  const rendering = creating
    ? { steps: [], waiting: new Set<string>() }
    : templateSteps(app, o, new Set([...start, ...restart]));
  // A failed one that waits is reset, and counted a failure, when it does start: not now.
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i]!;
    if (s.kind === 'setBackoff' && rendering.waiting.has(s.unit)) steps.splice(i, 1);
  }
  const resetting = reset.filter((u) => !rendering.waiting.has(u));
  if (resetting.length > 0)
    steps.push({ kind: 'resetFailed', app: id, units: resetting, reason: 'failed: starting it again' });
  for (const unit of [...start, ...restart].filter((u) => rendering.waiting.has(u)))
    steps.push({ kind: 'wait', app: id, unit, reason: 'its config files are being rendered first' });
  const starting = start.filter((u) => !rendering.waiting.has(u));
  const restarting = restart.filter((u) => !rendering.waiting.has(u));
  if (starting.length > 0 && creating)
    for (const unit of starting)
      steps.push({ kind: 'wait', app: id, unit, reason: 'its secrets are being created first' });
  else if (starting.length > 0)
    steps.push({ kind: 'start', app: id, units: starting, reason: 'app should be running' });
  if (restarting.length > 0 && creating)
    // As a start: the new secrets' ids change its units, and it is restarted once, after that.
    for (const unit of restarting)
      steps.push({ kind: 'wait', app: id, unit, reason: 'its secrets are being created first' });
  else if (restarting.length > 0) {
    const why = app.restartRequestedAt !== undefined ? 'restart requested' : 'unit file changed since it started';
    steps.push({ kind: 'restart', app: id, units: restarting, reason: why });
  }
  steps.unshift(...rendering.steps);
  // A file no longer rendered (its template or container left the manifest): its secret goes.
  // Not while the manifest is unusable: the app runs on its last good units, which mount them.
  const wanted = new Set((app.rendered?.containers ?? []).flatMap((c) => (c.templates ?? []).map((t) => t.secret)));
  for (const secret of app.rendered ? renderedFilesOf(app, o).filter((n) => !wanted.has(n)) : [])
    steps.push({
      kind: 'removeRenderedFile',
      app: id,
      secret,
      reason: 'config file no longer rendered from the manifest',
    });
  return [...steps, ...planRunningHooks(app, o, steps)];
}

/**
 * Config files rendered from templates: again whenever what one is made from changed since it
 * was last rendered (its text, a secret it reads, a fact), or its secret is gone. `waiting`:
 * the containers about to start or restart (`moving`) that mount one, and so wait for it. A
 * running container keeps its copy until restarted: its file is rendered when its unit's
 * change restarts it (or at once when the secret is gone, for its next start).
 */
function templateSteps(app: DesiredApp, o: Observed, moving: Set<string>): { steps: Step[]; waiting: Set<string> } {
  const steps: Step[] = [];
  const waiting = new Set<string>();
  for (const c of app.rendered?.containers ?? []) {
    for (const t of c.templates ?? []) {
      const stale = o.templateInputs?.[t.secret] !== t.inputKey;
      const gone = o.secrets !== undefined && !(t.secret in o.secrets);
      if (!stale && !gone) continue;
      if (moving.has(c.service)) waiting.add(c.service);
      else if (!gone) continue; // rendered when it next starts: nothing reads it before
      steps.push({
        kind: 'renderTemplate',
        app: app.id,
        ...t,
        reason: gone ? 'rendered config file missing' : 'template, a secret or a fact it reads changed',
      });
    }
  }
  return { steps, waiting };
}

/**
 * A container that already has the name of a unit about to start (the unit is inactive, so
 * the container is not its own): ours, left from an older run, is cleared out of the way;
 * one archy-quadlet did not make is never touched, and the unit waits.
 */
function containerInTheWay(app: DesiredApp, svc: string, o: Observed): Step | undefined {
  const c = app.rendered?.containers.find((x) => x.service === svc);
  const found = c && o.containers?.[c.containerName];
  if (!c || !found) return undefined;
  if (found.app !== app.id) {
    const owner = found.app ? `app ${found.app}` : 'archy-quadlet does not own it';
    return {
      kind: 'wait',
      app: app.id,
      unit: svc,
      reason: `a container named ${c.containerName} is in the way (${owner}): remove or rename it`,
    };
  }
  if (found.state === 'stopping')
    return {
      kind: 'wait',
      app: app.id,
      unit: svc,
      reason: `a container of an older run holds the name ${c.containerName}: stopping`,
    };
  const running = !['created', 'configured', 'exited', 'stopped', 'dead'].includes(found.state);
  return {
    kind: 'clearStaleContainer',
    app: app.id,
    unit: svc,
    container: c.containerName,
    running,
    timeoutSec: c.stopTimeoutSec,
    reason: running
      ? `a container of an older run (${found.state}) holds the name ${c.containerName}: stopping it`
      : `a container of an older run (${found.state}) holds the name ${c.containerName}: removing it`,
  };
}

/**
 * File bind sources found missing (only those of containers about to start are looked at):
 * the container's own, and the first of a container it requires, all the way down.
 */
function missingBindFiles(
  app: DesiredApp,
  svc: string,
  o: Observed,
): { own: string[]; required?: { service: string; path: string } } {
  const missing = new Set(o.missingFiles ?? []);
  if (missing.size === 0) return { own: [] };
  const byService = new Map((app.rendered?.containers ?? []).map((c) => [c.service, c]));
  const filesOf = (c: { bindFiles: string[]; envFiles?: string[] } | undefined) => [
    ...(c?.bindFiles ?? []),
    ...(c?.envFiles ?? []),
  ];
  const own = filesOf(byService.get(svc)).filter((p) => missing.has(p));
  const required = firstRequired(app, svc, (dep) => {
    const path = filesOf(byService.get(dep)).find((p) => missing.has(p));
    return path ? { service: dep, path } : undefined;
  });
  return required ? { own, required } : { own };
}

/**
 * The first unit the container requires, all the way down (breadth first), for which `found`
 * says something: what it says. A start would start every one of them (Requires=).
 */
function firstRequired<T>(app: DesiredApp, svc: string, found: (service: string) => T | undefined): T | undefined {
  const byService = new Map((app.rendered?.containers ?? []).map((c) => [c.service, c]));
  const seen = new Set([svc]);
  const queue = [...(byService.get(svc)?.requires ?? [])];
  while (queue.length > 0) {
    const dep = queue.shift()!;
    if (seen.has(dep)) continue;
    seen.add(dep);
    const hit = found(dep);
    if (hit !== undefined) return hit;
    queue.push(...(byService.get(dep)?.requires ?? []));
  }
  return undefined;
}

function envFileOf(app: DesiredApp, path: string): boolean {
  return (app.rendered?.containers ?? []).some((c) => c.envFiles?.includes(path));
}

/** A unit the container requires, all the way down, that is down and backing off; undefined when none. */
function requiredBackingOff(app: DesiredApp, svc: string, o: Observed): string | undefined {
  return firstRequired(app, svc, (dep) => {
    const state = o.units[dep]?.activeState;
    const b = o.backoff[dep];
    return (state === 'failed' || state === 'inactive') && b && backoffRemainingMs(b, o) > 0 ? dep : undefined;
  });
}

function busyPortsOf(app: DesiredApp, svc: string, o: Observed): string[] {
  const busy = new Set(o.busyPorts ?? []);
  const c = app.rendered?.containers.find((x) => x.service === svc);
  return (c?.hostPorts ?? []).map((p) => portKey(p, p.hostPort)).filter((k) => busy.has(k));
}

function backoffStep(app: string, unit: string, prior: BackoffEntry | undefined, o: Observed): Step {
  const failures = (prior?.failures ?? 0) + 1;
  const delaySec = Math.min(BACKOFF.capSec, BACKOFF.baseSec * 2 ** (failures - 1));
  return {
    kind: 'setBackoff',
    app,
    unit,
    failures,
    ...backoffFrom(o, delaySec * 1000),
    reason: `failure ${failures}: next retry no sooner than ${delaySec} s`,
  };
}

export function planStopped(app: DesiredApp, o: Observed, services: string[]): Step[] {
  const steps: Step[] = [];
  const stop: string[] = [];
  const reset: string[] = [];
  for (const svc of [...services].reverse()) {
    const u = o.units[svc];
    if (o.backoff[svc]) steps.push({ kind: 'clearBackoff', app: app.id, unit: svc, reason: 'app stopped' });
    if (!u) continue;
    if (u.activeState === 'active' || u.activeState === 'reloading') stop.push(svc);
    else if (u.activeState === 'activating') {
      stop.push(svc);
      const c = app.rendered?.containers.find((x) => x.service === svc);
      // A Notify=healthy unit that has not passed its first health check ignores a stop
      // until TimeoutStopSec: stopping the container ends it within its own stop timeout.
      if (c?.readiness && u.subState !== 'auto-restart') {
        steps.push({
          kind: 'stopContainer',
          app: app.id,
          container: c.containerName,
          timeoutSec: c.stopTimeoutSec,
          reason: 'stopping while still starting (health check not passed yet)',
        });
      }
    } else if (u.activeState === 'deactivating')
      steps.push({ kind: 'wait', app: app.id, unit: svc, reason: 'stopping' });
    else if (u.activeState === 'failed') reset.push(svc);
  }
  if (stop.length > 0)
    steps.unshift({
      kind: 'stop',
      app: app.id,
      units: stop,
      reason: app.intent === 'absent' ? 'app uninstalled' : 'app should be stopped',
    });
  if (reset.length > 0)
    steps.push({
      kind: 'resetFailed',
      app: app.id,
      units: reset,
      reason: 'stopped: a failure of a stopped app is not news',
    });
  return steps;
}

function planAbsent(app: DesiredApp, o: Observed): Step[] {
  // Everything the manifest or the files say the app has: a unit whose file was deleted
  // may still be running.
  // A rolled-back adoption was never the app's install: no uninstall hook, and its record stays (status says why).
  const hook = app.adoption ? [] : planUninstallHook(app, o);
  if (hook.length > 0) return hook; // before anything stops: it runs in a running container
  const all = servicesOf(app, o);
  const containers = [...new Set([...containerServicesOf(app, o), ...all.filter((s) => !isSupportService(s))])];
  const support = all.filter(isSupportService);
  const stopping = planStopped(app, o, [...support, ...containers]);
  if (stopping.length > 0 || all.some((s) => isUp(o.units[s])) || (o.files[app.id] ?? []).some((f) => f.owned))
    return stopping;
  const steps: Step[] = leftoverHookSteps(app, o);
  for (const [name, c] of Object.entries(o.containers ?? {})) {
    if (c.app === app.id)
      steps.push({
        kind: 'removeContainer',
        app: app.id,
        container: name,
        reason: 'container left behind by an uninstalled app',
      });
  }
  if (steps.length > 0) return steps; // containers first: a network or image in use cannot go
  // Not data: the app's network and the images built for it go with it.
  for (const [name, owner] of Object.entries(o.networks ?? {})) {
    if (owner === app.id)
      steps.push({ kind: 'removeNetwork', app: app.id, network: name, reason: 'network of an uninstalled app' });
  }
  for (const [id, owner] of Object.entries(o.images ?? {})) {
    if (owner === app.id)
      steps.push({ kind: 'removeImage', app: app.id, image: id, reason: 'image built for an uninstalled app' });
  }
  // Rendered config files hold secrets' values: they go with the app, purged or not (a
  // reinstall renders them anew).
  for (const secret of renderedFilesOf(app, o))
    steps.push({ kind: 'removeRenderedFile', app: app.id, secret, reason: 'config file of an uninstalled app' });
  if (app.purge) {
    for (const [name, owner] of Object.entries(o.volumes ?? {})) {
      if (owner === app.id) steps.push({ kind: 'removeVolume', app: app.id, volume: name, reason: 'purge: app data' });
    }
    for (const [name, owner] of Object.entries(o.secrets ?? {})) {
      if (owner === app.id && !renderedFilesOf(app, o).includes(name))
        steps.push({ kind: 'removeSecret', app: app.id, secret: name, reason: 'purge: app secret' });
    }
  }
  if (app.purge) {
    // Adopted volumes existed before the app was ours: they carry no label, only the record.
    for (const name of app.adoptedVolumes ?? [])
      if (o.volumes && name in o.volumes && o.volumes[name] !== app.id)
        steps.push({ kind: 'removeVolume', app: app.id, volume: name, reason: 'purge: app data (adopted volume)' });
  }
  if (steps.length === 0 && !app.orphan && !app.adoption)
    steps.push({
      kind: 'forgetApp',
      app: app.id,
      reason: app.purge ? 'uninstalled and purged' : 'uninstalled (volumes and secrets kept)',
    });
  return steps;
}

/** The Podman secrets holding the app's rendered config files: those it renders, and those recorded as rendered. */
function renderedFilesOf(app: DesiredApp, o: Observed): string[] {
  const names = new Set([
    ...(app.rendered?.containers ?? []).flatMap((c) => (c.templates ?? []).map((t) => t.secret)),
    ...Object.keys(o.templateInputs ?? {}),
  ]);
  return [...names].filter((n) => o.secrets?.[n] === app.id).sort();
}

function isUp(u: UnitStatus | undefined): boolean {
  return !!u && ['active', 'activating', 'deactivating', 'reloading'].includes(u.activeState);
}

/**
 * Whether a unit's process runs a definition older than this file of it: started before the
 * file was written, or after it but before the daemon-reload of ours that loaded it (a crash
 * restart, or the start at boot, in the moment between a pass's write and its reload). Only
 * for a file written while the reload log is complete: else nothing tells. Pure.
 */
export function runsOlderFile(file: { mtimeMono: number }, u: UnitStatus, o: Pick<Observed, 'reloads'>): boolean {
  if (file.mtimeMono > u.execMainStartMono) return true;
  if (!o.reloads || file.mtimeMono <= o.reloads.completeFrom) return false;
  const loaded = o.reloads.marks.find((m) => m > file.mtimeMono);
  return loaded !== undefined && u.execMainStartMono < loaded;
}

export function startedMs(u: UnitStatus, o: { nowMs: number; nowMono: number }): number {
  return o.nowMs - (o.nowMono - u.execMainStartMono) / 1000;
}

/** Container services of an app: from the manifest in dependency order, else from its files. */
export function containerServicesOf(app: DesiredApp, o: Observed): string[] {
  const foreign = foreignServices(app, o);
  if (app.rendered) return app.rendered.containers.map((c) => c.service).filter((s) => !foreign.has(s));
  return servicesOfUnitFiles((o.files[app.id] ?? []).filter((f) => f.owned)).filter((s) => !isSupportService(s));
}

/** Every unit of an app: from the manifest, else from its files on disk. */
export function servicesOf(app: DesiredApp, o: Observed): string[] {
  const foreign = foreignServices(app, o);
  const fromFiles = servicesOfUnitFiles((o.files[app.id] ?? []).filter((f) => f.owned));
  return [...new Set([...(app.rendered?.services ?? []).filter((s) => !foreign.has(s)), ...fromFiles])];
}

/**
 * Services generated from files in the app's directory that archy-quadlet did not write:
 * never stopped, started or removed, even when the manifest names them (uninstall included).
 */
function foreignServices(app: DesiredApp, o: Observed): Set<string> {
  return new Set(servicesOfUnitFiles((o.files[app.id] ?? []).filter((f) => !f.owned)));
}

/**
 * Whether this pass must ask Podman (secrets, volumes, containers): only when an app is
 * on its way somewhere. A converged node costs no Podman process.
 */
export function needsPodman(
  desired: Desired,
  units: Record<string, UnitStatus>,
  files: Observed['files'] = {},
  clock?: { nowMs: number; nowMono: number },
): boolean {
  return desired.apps.some((app) => {
    // An adoption looks at the old containers on every pass until it ends.
    if (adoptionInFlight(app)) return true;
    if (app.adoption) return false; // rolled back: nothing left to do
    // A restart asked for: the pass must know that the secrets it reads (and the files
    // rendered from them) are there before it restarts anything.
    if (
      clock &&
      app.intent === 'running' &&
      app.restartRequestedAt !== undefined &&
      (app.rendered?.containers ?? []).some((c) => {
        const u = units[c.service];
        return u?.activeState === 'active' && startedMs(u, clock) < app.restartRequestedAt!;
      })
    )
      return true;
    // An uninstall needs Podman only for its last steps (leftover containers, network, images,
    // purge): while its units still stop or its files are still there, it is not asked.
    if (app.intent === 'absent') {
      const mine = servicesOf(app, { files } as Observed);
      return !(files[app.id] ?? []).some((f) => f.owned) && !mine.some((s) => isUp(units[s]));
    }
    if (app.intent !== 'running') return false;
    // A container that waits for a provider that is down (a bitcoind the user stopped) has
    // nothing to ask Podman about: a node left that way stays free of Podman processes.
    const providerDown = (svc: string) =>
      !['active', 'activating', 'reloading'].includes(units[svc]?.activeState ?? '') &&
      !desired.apps.some((p) => p.intent === 'running' && p.rendered?.containers.some((x) => x.service === svc));
    return (app.rendered?.containers ?? []).some(
      (c) => units[c.service]?.activeState !== 'active' && !c.waitsFor.some((w) => providerDown(w.service)),
    );
  });
}
