import type { Supervisor } from './supervisor.js';
import { changeState, currentView } from './supervisor.js';
import { checkAppId, IntentError } from './intents.js';
import { planUnitDir } from '../output/plan-unit-dir.js';
import { pullableContainers } from './plan-pulls.js';
import type { DesiredApp, Observed } from './types.js';

// `archy-quadlet update`: what an update of the installed apps would change (--check), and
// trying again a version that was rolled back (--retry). The update itself is what every
// pass does with a changed manifest (plan-update.ts).

export interface UpdateCheck {
  app: string;
  /** current: nothing to do; update: the next pass updates it; updating, rolling-back: under way; rolled-back: held. */
  state: 'current' | 'update' | 'updating' | 'rolling-back' | 'rolled-back' | 'not-running';
  fromVersion?: string;
  toVersion?: string;
  /** Why it was rolled back. */
  reason?: string;
  /** Containers whose image changes; `pull`: not in the store, pulled first. */
  images: Array<{ container: string; from?: string; to: string; pull?: true }>;
  /** Unit files that change, with the diff of each. */
  files: Array<{ name: string; action: 'create' | 'update' | 'remove'; before?: string; after?: string }>;
}

/** The image a unit file on disk names (its `Image=` line). */
function imageOf(content: string | undefined): string | undefined {
  return content?.match(/^Image=(.*)$/m)?.[1]?.trim();
}

/** Pure: what updating one app to its rendering would change, from what is on disk. */
export function updateCheckOf(app: DesiredApp, o: Observed, inStore: (ref: string) => boolean): UpdateCheck {
  const target = app.heldBack ?? app.rendered;
  const disk = (o.files[app.id] ?? []).filter((f) => f.owned);
  const plan = planUnitDir(disk, target?.files ?? []);
  const files = plan.changes.flatMap((c): UpdateCheck['files'] =>
    c.action === 'unchanged'
      ? []
      : [
          {
            name: c.name,
            action: c.action,
            ...(c.before !== undefined ? { before: c.before } : {}),
            ...(c.after !== undefined ? { after: c.after } : {}),
          },
        ],
  );
  const pullable = new Set(target ? pullableContainers({ ...app, rendered: target }).map((c) => c.service) : []);
  const images = (target?.containers ?? []).flatMap((c): UpdateCheck['images'] => {
    const from = imageOf(disk.find((f) => f.name === c.file)?.content);
    if (!c.image || from === c.image) return [];
    return [
      {
        container: c.containerName,
        ...(from ? { from } : {}),
        to: c.image,
        ...(pullable.has(c.service) && !inStore(c.image) ? { pull: true as const } : {}),
      },
    ];
  });
  const u = app.update;
  const up = (app.rendered?.containers ?? []).some((c) => o.units[c.service]?.activeState === 'active');
  const state: UpdateCheck['state'] =
    u?.phase === 'rolledBack' && app.heldBack
      ? 'rolled-back'
      : u?.phase === 'rollingBack'
        ? 'rolling-back'
        : u?.phase === 'switching'
          ? 'updating'
          : files.length === 0
            ? 'current'
            : app.intent === 'running' && up
              ? 'update'
              : 'not-running';
  const fromVersion = u?.fromVersion ?? (app.heldBack ? app.rendered?.version : app.lastGoodVersion);
  const toVersion = target?.version;
  return {
    app: app.id,
    state,
    ...(fromVersion ? { fromVersion } : {}),
    ...(toVersion && (files.length > 0 || app.heldBack) ? { toVersion } : {}),
    ...(u?.reason ? { reason: u.reason } : {}),
    images,
    files,
  };
}

/** What an update of one installed app (or of every one) would change now; changes nothing. */
export async function checkUpdates(sv: Supervisor, appId?: string): Promise<UpdateCheck[]> {
  if (appId !== undefined) checkAppId(appId);
  const view = await currentView(sv);
  const apps = view.desired.apps.filter((a) => a.intent !== 'absent' && (appId === undefined || a.id === appId));
  if (appId !== undefined && apps.length === 0) throw new IntentError(`"${appId}" is not installed`);
  const out: UpdateCheck[] = [];
  for (const app of apps) {
    const refs = new Map<string, boolean>();
    const target = app.heldBack ?? app.rendered;
    for (const c of target ? pullableContainers({ ...app, rendered: target }) : [])
      refs.set(c.image!, await sv.podman.imageExists(c.image!).catch(() => false));
    out.push(updateCheckOf(app, view.observed, (ref) => refs.get(ref) ?? true));
  }
  return out;
}

/**
 * `update APP --retry`: a version that was rolled back is tried again (its record goes; the
 * next pass updates the app to it, through the same gate). Returns whether there was one.
 */
export async function retryUpdate(sv: Supervisor, appId: string): Promise<boolean> {
  checkAppId(appId);
  let retried = false;
  await changeState(sv, (state) => {
    const a = state.apps[appId];
    if (!a || a.intent === 'absent') throw new IntentError(`"${appId}" is not installed`);
    if (a.update?.phase === 'rolledBack') {
      delete a.update;
      retried = true;
    }
  });
  return retried;
}
