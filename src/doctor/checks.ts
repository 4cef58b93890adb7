// `archy-quadlet doctor`: the ways rootless Quadlet setups are known to fail, each checked
// from plain facts (gathered by gather-facts.ts). Pure: facts in, one result per check out.

import { HEAL_FIX, type PodmanBreakage } from '../podman-heal/podman-breakage.js';

export type CheckLevel = 'ok' | 'warn' | 'fail' | 'n/a';

export interface CheckResult {
  id: string;
  title: string;
  level: CheckLevel;
  /** What was found, in a sentence. */
  detail: string;
  /** What to do, when something is to be done. */
  fix?: string;
}

export interface DoctorFacts {
  user: string;
  uid: number;
  /** `podman --version`, undefined when podman is not found. */
  podmanVersion?: string;
  quadletBin?: string;
  podmanUserGenerator: boolean;
  /**
   * Podman's container init, catatonit (`init: true`, RunInit=true, `podman run --init`): the
   * file Podman would use, and the `init_path` of containers.conf when one is set (Podman then
   * looks nowhere else).
   */
  initBinary: { path?: string; configured?: string };
  /** Installed apps with a container that runs with `init: true`; undefined when the state is unreadable. */
  initApps?: string[];
  xdgRuntimeDir?: string;
  runtimeDirOk?: { exists: boolean; ownedByUser: boolean; mode: number };
  /** `systemctl --user is-system-running`: its output, or the error when it could not be asked. */
  userManager: { state?: string; error?: string; failedUnits?: string[] };
  sessionBus: { address?: string; socketExists: boolean };
  /** The name of PID 1 (`systemd` on a node). */
  initName?: string;
  lingerEnabled: boolean;
  cgroup: { version: 1 | 2; delegated?: string[] };
  subuid?: number;
  subgid?: number;
  newuidmap: boolean;
  unprivilegedPortStart?: number;
  /** Host ports the installed apps publish. */
  publishedPorts: Array<{ app: string; port: number }>;
  unitDir: { path: string; writable: boolean; exists: boolean };
  /** Files the generator refused, over the user's whole Quadlet search path. */
  rejectedUnitFiles?: Array<{ file: string; error: string }>;
  generatorHook: { path: string; installed: boolean; current: boolean };
  userUnits: Array<{
    unit: string;
    installed: boolean;
    current: boolean;
    active?: string;
    enabled?: string;
    optional: boolean;
  }>;
  state: { ok: boolean; apps: number; error?: string };
  /** Secrets installed apps refer to that Podman does not have. */
  missingSecrets?: Array<{ app: string; secret: string }>;
  /**
   * Which catalog each entry point reads (the timer, the watcher, the boot hook: one pinned
   * in its unit file, else the configuration's), and the catalog each installed app came from.
   */
  /** Problems of the node configuration's files (each `file:line: message`). */
  configProblems?: string[];
  catalogs?: {
    entryPoints: Array<{ name: string; catalog: string; pinned: boolean }>;
    apps: Array<{ app: string; catalog: string }>;
  };
  /**
   * What is wrong with Podman's own state (a stale runtime, volumes its database lost), and the
   * labels of the volumes the installed apps' units create (what recovery registers them with).
   */
  podmanState?: { breakages: PodmanBreakage[]; volumeLabels: Record<string, string[]> };
  /** Volume snapshots kept from each app's last update (snapshotBeforeUpdate), with their size and the free space beside them. */
  snapshots?: { apps: Array<{ app: string; bytes: number }>; freeBytes?: number };
}

/** Snapshots beyond this share of the free space they sit on are a warning: they are meant for small volumes. */
const SNAPSHOT_SHARE_OF_FREE = 0.1;

function mb(bytes: number): string {
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

const MIN_PODMAN = [5, 4];
const SUBIDS_NEEDED = 65536;

function versionOf(text: string | undefined): number[] | undefined {
  const m = text?.match(/(\d+)\.(\d+)(?:\.(\d+))?/);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3] ?? 0)] : undefined;
}

export function runChecks(f: DoctorFacts): CheckResult[] {
  const out: CheckResult[] = [];
  const add = (r: CheckResult) => out.push(r);

  const v = versionOf(f.podmanVersion);
  if (!v)
    add({
      id: 'podman',
      title: 'Podman',
      level: 'fail',
      detail: 'podman is not installed (or not on PATH)',
      fix: 'install Podman 5.4 or newer (Debian 13: apt install podman)',
    });
  else if (v[0]! < 5)
    add({
      id: 'podman',
      title: 'Podman',
      level: 'fail',
      detail: `podman ${v.join('.')}: Quadlet .build units need Podman 5`,
      fix: 'upgrade Podman to 5.4 or newer',
    });
  else if (v[0] === MIN_PODMAN[0] && v[1]! < MIN_PODMAN[1]!)
    add({
      id: 'podman',
      title: 'Podman',
      level: 'warn',
      detail: `podman ${v.join('.')}: archy-quadlet is made and tested for 5.4`,
      fix: 'upgrade Podman to 5.4 or newer',
    });
  else add({ id: 'podman', title: 'Podman', level: 'ok', detail: `podman ${v.join('.')}` });

  if (f.podmanState) {
    const broken = f.podmanState.breakages;
    if (broken.length === 0)
      add({
        id: 'podman-state',
        title: "Podman's own state",
        level: 'ok',
        detail:
          "its runtime state works, its database knows every volume of the installed apps, and its network helpers (the rootless namespace's pasta, aardvark-dns) run",
      });
    for (const b of broken)
      add({
        id: 'podman-state',
        title: "Podman's own state",
        level: 'fail',
        detail:
          b.kind === 'stale-runtime'
            ? `every podman command fails: its runtime state is stale (${b.detail})`
            : b.detail,
        fix: HEAL_FIX[b.kind],
      });
  }

  if (!f.quadletBin)
    add({
      id: 'quadlet',
      title: 'Quadlet generator',
      level: 'fail',
      detail: 'the Quadlet generator is not installed (/usr/libexec/podman/quadlet)',
      fix: "install Podman's Quadlet (Debian: apt install podman); or set ARCHY_QUADLET_BIN",
    });
  else if (!f.podmanUserGenerator)
    add({
      id: 'quadlet',
      title: 'Quadlet generator',
      level: 'fail',
      detail: `${f.quadletBin} is there but no user generator runs it (podman-user-generator missing)`,
      fix: 'reinstall podman: /usr/lib/systemd/user-generators/podman-user-generator must link to the Quadlet binary',
    });
  else
    add({
      id: 'quadlet',
      title: 'Quadlet generator',
      level: 'ok',
      detail: `${f.quadletBin}, run by podman-user-generator`,
    });

  const initApps = f.initApps ?? [];
  if (f.initBinary.path)
    add({
      id: 'init',
      title: 'catatonit (init: true)',
      level: 'ok',
      detail: `${f.initBinary.path}${f.initBinary.configured ? ' (init_path in containers.conf)' : ''}`,
    });
  else
    add({
      id: 'init',
      title: 'catatonit (init: true)',
      level: initApps.length ? 'fail' : 'warn',
      detail:
        (f.initBinary.configured
          ? `containers.conf sets init_path = ${f.initBinary.configured}, which is not there`
          : "Podman's container init is not installed (/usr/libexec/podman/catatonit, catatonit on PATH)") +
        (initApps.length
          ? `: ${initApps.join(', ')} (init: true) cannot start`
          : f.initApps === undefined
            ? ': a container with init: true cannot start (the installed apps could not be read)'
            : ': no installed app uses init: true; one that does would not start'),
      fix: f.initBinary.configured
        ? `sudo apt install catatonit, and point init_path at it (or remove init_path from containers.conf)`
        : 'sudo apt install catatonit',
    });

  if (!f.xdgRuntimeDir)
    add({
      id: 'runtime-dir',
      title: 'XDG_RUNTIME_DIR',
      level: 'fail',
      detail: 'XDG_RUNTIME_DIR is not set: systemctl --user and rootless podman cannot find the user session',
      fix:
        `log in as ${f.user} through a session (ssh, machinectl shell ${f.user}@), ` +
        `or export XDG_RUNTIME_DIR=/run/user/${f.uid}`,
    });
  else if (!f.runtimeDirOk?.exists || !f.runtimeDirOk.ownedByUser)
    add({
      id: 'runtime-dir',
      title: 'XDG_RUNTIME_DIR',
      level: 'fail',
      detail: `${f.xdgRuntimeDir} ${f.runtimeDirOk?.exists ? `is not owned by ${f.user}` : 'does not exist'}`,
      fix: `sudo loginctl enable-linger ${f.user} (creates /run/user/${f.uid} and keeps it)`,
    });
  else add({ id: 'runtime-dir', title: 'XDG_RUNTIME_DIR', level: 'ok', detail: f.xdgRuntimeDir });

  const um = f.userManager;
  if (um.error || !um.state)
    add({
      id: 'user-manager',
      title: 'systemd user manager',
      level: 'fail',
      detail: `cannot reach it: ${(um.error ?? 'no answer').split('\n')[0]}`,
      fix:
        `run as ${f.user} in a session with XDG_RUNTIME_DIR set; ` +
        `sudo loginctl enable-linger ${f.user} starts the manager at boot`,
    });
  else if (um.state === 'running' || um.state === 'starting' || um.state === 'initializing')
    add({ id: 'user-manager', title: 'systemd user manager', level: 'ok', detail: um.state });
  else if (um.state === 'degraded')
    add({
      id: 'user-manager',
      title: 'systemd user manager',
      level: 'warn',
      detail: `degraded: failed unit(s): ${(um.failedUnits ?? []).join(', ') || 'see systemctl --user --failed'}`,
      fix: "archy-quadlet explain APP for an app's unit; systemctl --user reset-failed once understood",
    });
  else
    add({
      id: 'user-manager',
      title: 'systemd user manager',
      level: 'fail',
      detail: um.state,
      fix: 'systemctl --user status',
    });

  if (!f.sessionBus.address && !f.sessionBus.socketExists)
    add({
      id: 'session-bus',
      title: 'session bus',
      level: 'fail',
      detail:
        'no D-Bus session bus: rootless health checks (run as systemd timers over the bus) never run, ' +
        'so Notify=healthy units never become ready',
      fix: `install dbus-user-session, then log in again (its socket is $XDG_RUNTIME_DIR/bus)`,
    });
  else
    add({
      id: 'session-bus',
      title: 'session bus',
      level: 'ok',
      detail: f.sessionBus.address ?? `${f.xdgRuntimeDir}/bus`,
    });

  if (f.lingerEnabled)
    add({
      id: 'linger',
      title: 'linger',
      level: 'ok',
      detail: `enabled for ${f.user}: the apps start at boot and survive logout`,
    });
  else if (f.initName && f.initName !== 'systemd')
    add({
      id: 'linger',
      title: 'linger',
      level: 'n/a',
      detail:
        `PID 1 is ${f.initName}, not systemd (a lab or container): linger cannot apply here; ` +
        'on a node it must be enabled',
    });
  else
    add({
      id: 'linger',
      title: 'linger',
      level: 'fail',
      detail: `not enabled for ${f.user}: nothing starts at boot, and the apps stop at logout`,
      fix: `sudo loginctl enable-linger ${f.user}`,
    });

  const wanted = ['cpu', 'memory', 'pids'];
  if (f.cgroup.version === 1)
    add({
      id: 'cgroups',
      title: 'cgroups',
      level: 'warn',
      detail: 'cgroup v1: rootless memory and CPU limits are ignored',
      fix: 'boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1; the default on Debian 11 and later)',
    });
  else {
    const missing = wanted.filter((c) => !(f.cgroup.delegated ?? []).includes(c));
    if (missing.length)
      add({
        id: 'cgroups',
        title: 'cgroups',
        level: 'warn',
        detail: `cgroup v2, but ${missing.join(', ')} not delegated to the user manager: those limits are ignored`,
        fix:
          'a drop-in /etc/systemd/system/user@.service.d/delegate.conf ' +
          'with [Service] Delegate=cpu cpuset io memory pids, then reboot',
      });
    else
      add({
        id: 'cgroups',
        title: 'cgroups',
        level: 'ok',
        detail: `cgroup v2, delegated: ${(f.cgroup.delegated ?? []).join(' ')}`,
      });
  }

  const short = [
    f.subuid === undefined || f.subuid < SUBIDS_NEEDED ? `subuid ${f.subuid ?? 0}` : '',
    f.subgid === undefined || f.subgid < SUBIDS_NEEDED ? `subgid ${f.subgid ?? 0}` : '',
  ].filter(Boolean);
  if (short.length)
    add({
      id: 'subids',
      title: 'subordinate ids',
      level: 'fail',
      detail:
        `${short.join(', ')} for ${f.user} (images need ${SUBIDS_NEEDED}): ` +
        'pulls fail with "newuidmap" / "insufficient UIDs"',
      fix: `sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${f.user} && podman system migrate`,
    });
  else if (!f.newuidmap)
    add({
      id: 'subids',
      title: 'subordinate ids',
      level: 'fail',
      detail: 'newuidmap/newgidmap not installed',
      fix: 'apt install uidmap',
    });
  else add({ id: 'subids', title: 'subordinate ids', level: 'ok', detail: `${f.subuid} uids, ${f.subgid} gids` });

  const start = f.unprivilegedPortStart ?? 1024;
  const low = f.publishedPorts.filter((p) => p.port < start);
  if (low.length)
    add({
      id: 'ports',
      title: 'privileged ports',
      level: 'fail',
      detail:
        `${low.map((p) => `${p.app} publishes ${p.port}`).join(', ')}, ` +
        `below net.ipv4.ip_unprivileged_port_start=${start}: rootlessport cannot bind it`,
      fix:
        `echo net.ipv4.ip_unprivileged_port_start=${Math.min(...low.map((p) => p.port))} ` +
        '| sudo tee /etc/sysctl.d/50-archy-ports.conf && sudo sysctl --system ' +
        `(or publish a port >= ${start})`,
    });
  else
    add({
      id: 'ports',
      title: 'privileged ports',
      level: 'ok',
      detail: `${f.publishedPorts.length} published port(s), all >= ${start}`,
    });

  if (!f.unitDir.writable)
    add({
      id: 'unit-dir',
      title: 'unit directory',
      level: 'fail',
      detail: `${f.unitDir.path} is not writable by ${f.user}`,
      fix: `sudo chown -R ${f.user}: ${f.unitDir.path}`,
    });
  else if (f.rejectedUnitFiles === undefined)
    add({
      id: 'unit-dir',
      title: 'unit directory',
      level: 'warn',
      detail: `${f.unitDir.path} writable; not checked with the generator (not installed)`,
    });
  else if (f.rejectedUnitFiles.length)
    add({
      id: 'unit-dir',
      title: 'unit directory',
      level: 'fail',
      detail:
        `the generator rejects ${f.rejectedUnitFiles.map((r) => `${r.file} (${r.error})`).join('; ')}: ` +
        'a bad file drops every unit in its directory',
      fix:
        `fix or remove ${f.rejectedUnitFiles.map((r) => r.file).join(' ')}; ` +
        'archy-quadlet reconcile restores files of ours',
    });
  else {
    const made = f.unitDir.exists ? '' : ' (made on first install)';
    add({
      id: 'unit-dir',
      title: 'unit directory',
      level: 'ok',
      detail: `${f.unitDir.path}${made}; the generator accepts every file`,
    });
  }

  const h = f.generatorHook;
  if (!h.installed)
    add({
      id: 'boot-hook',
      title: 'boot generator hook',
      level: 'warn',
      detail: `${h.path} not installed: units are not brought up to date at boot if manifests changed while off`,
      fix: 'sudo archy-quadlet setup --system',
    });
  else if (!h.current)
    add({
      id: 'boot-hook',
      title: 'boot generator hook',
      level: 'warn',
      detail: `${h.path} was written by another version or installation`,
      fix: 'sudo archy-quadlet setup --system',
    });
  else add({ id: 'boot-hook', title: 'boot generator hook', level: 'ok', detail: `${h.path} current` });

  for (const u of f.userUnits) {
    const id = u.unit.replace(/^archy-quadlet-/, '');
    if (!u.installed)
      add({
        id,
        title: u.unit,
        level: u.optional ? 'ok' : 'warn',
        detail: u.optional
          ? 'not installed (optional: archy-quadlet setup --watch)'
          : 'not installed: nothing reconciles the node on its own',
        ...(u.optional ? {} : { fix: 'archy-quadlet setup' }),
      });
    else if (!u.current)
      add({
        id,
        title: u.unit,
        level: 'warn',
        detail: 'written by another version or installation',
        fix: `archy-quadlet setup${u.unit.includes('watch') ? ' --watch' : ''}`,
      });
    else if (u.active !== 'active' || u.enabled !== 'enabled')
      add({
        id,
        title: u.unit,
        level: 'warn',
        detail: `${u.enabled ?? 'unknown'}, ${u.active ?? 'unknown'}`,
        fix: `systemctl --user enable --now ${u.unit}`,
      });
    else add({ id, title: u.unit, level: 'ok', detail: 'current, enabled, active' });
  }

  if (!f.state.ok)
    add({
      id: 'state',
      title: 'state file',
      level: 'fail',
      detail: f.state.error ?? 'unreadable',
      fix: 'see the detail: restore state.json.bak or repair the file',
    });
  else add({ id: 'state', title: 'state file', level: 'ok', detail: `${f.state.apps} app(s) installed` });

  if (f.configProblems?.length)
    add({
      id: 'config',
      title: 'node configuration',
      level: 'fail',
      detail: f.configProblems.join('; '),
      fix: 'correct the file (archy-quadlet config shows what is in force): every verb refuses to run until then',
    });
  else if (f.configProblems) add({ id: 'config', title: 'node configuration', level: 'ok', detail: 'readable' });
  const strays = (f.catalogs?.entryPoints ?? []).flatMap((e) => {
    const apps = (f.catalogs?.apps ?? []).filter((a) => a.catalog !== e.catalog).map((a) => a.app);
    return apps.length > 0 ? [{ ...e, apps }] : [];
  });
  if (f.catalogs === undefined)
    add({ id: 'catalog', title: 'catalog', level: 'n/a', detail: 'not checked (the state is not available)' });
  else if (strays.length > 0) {
    const first = strays[0]!;
    const from = f.catalogs.apps.find((a) => a.app === first.apps[0])!.catalog;
    add({
      id: 'catalog',
      title: 'catalog',
      level: 'warn',
      detail: strays
        .map(
          (e) =>
            `${e.name} reads ${e.catalog}${e.pinned ? ' (pinned in its unit)' : ''}, ` +
            `but ${e.apps.join(', ')} ${e.apps.length > 1 ? 'were' : 'was'} installed from another catalog`,
        )
        .join('; '),
      fix: first.pinned
        ? `archy-quadlet setup${first.name.includes('hook') ? ' --system' : first.name.includes('watch') ? ' --watch' : ''} --apps ${from} (or set catalog: ${from} in the configuration and run setup again)`
        : `set catalog: ${from} in ~/.config/archy-quadlet/config.yml (archy-quadlet config shows what is in force)`,
    });
  } else
    add({
      id: 'catalog',
      title: 'catalog',
      level: 'ok',
      detail: `every entry point reads the catalog the apps were installed from`,
    });

  if (f.missingSecrets === undefined)
    add({
      id: 'secrets',
      title: 'secrets',
      level: 'n/a',
      detail: 'not checked (Podman or the state is not available)',
    });
  else if (f.missingSecrets.length)
    add({
      id: 'secrets',
      title: 'secrets',
      level: 'fail',
      detail:
        `missing: ${f.missingSecrets.map((s) => `${s.secret} (${s.app})`).join(', ')}: ` +
        'their containers fail with "no such secret"',
      fix:
        `archy-quadlet restart ${f.missingSecrets[0]!.app}: ` +
        'the supervisor creates a missing secret before it starts the app ' +
        '(a new value: restore the old one first, with podman secret create, if data was encrypted with it)',
    });
  else add({ id: 'secrets', title: 'secrets', level: 'ok', detail: 'every secret of the installed apps exists' });
  const snaps = f.snapshots;
  if (snaps && snaps.apps.length > 0) {
    const total = snaps.apps.reduce((n, x) => n + x.bytes, 0);
    const detail = `${mb(total)} kept from the last update of ${snaps.apps.map((x) => `${x.app} (${mb(x.bytes)})`).join(', ')}`;
    const heavy = snaps.freeBytes !== undefined && total > snaps.freeBytes * SNAPSHOT_SHARE_OF_FREE;
    add({
      id: 'snapshots',
      title: 'update snapshots',
      level: heavy ? 'warn' : 'ok',
      detail: heavy ? `${detail}: more than a tenth of the ${mb(snaps.freeBytes!)} free` : detail,
      ...(heavy
        ? {
            fix: 'snapshotBeforeUpdate is for small volumes (a database, a wallet): unmark a large one in its manifest',
          }
        : {}),
    });
  } else if (snaps) add({ id: 'snapshots', title: 'update snapshots', level: 'ok', detail: 'none kept' });
  return out;
}

const RANK: Record<CheckLevel, number> = { 'n/a': 0, ok: 0, warn: 1, fail: 2 };

/** The worst level among the results: it decides the exit code. */
export function worstLevel(results: CheckResult[]): CheckLevel {
  return results.reduce<CheckLevel>((w, r) => (RANK[r.level] > RANK[w] ? r.level : w), 'ok');
}
