import { access, constants, readdir, readFile, stat, statfs } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { readNodeConfig } from '../config/node-config.js';
import { execa } from 'execa';
import type { Paths } from '../paths.js';
import { findQuadlet, parseGeneratorStderr } from '../output/quadlet-generator.js';
import { appsDirOf, fillTemplate, SYSTEM_GENERATOR, systemHookState, UNITS_DIR, USER_UNITS } from '../setup/setup.js';
import { readState } from '../supervise/state-store.js';
import { readNodeFacts, readRecordedFacts } from '../supervise/node-facts-adapter.js';
import { loadDesired } from '../supervise/load-desired.js';
import { podmanCli, type Podman } from '../supervise/podman.js';
import { parseShowBlocks } from '../supervise/systemctl.js';
import type { DoctorFacts } from './checks.js';
import { diagnosePodman } from '../podman-heal/heal-podman.js';
import { volumeUnitLabels } from '../podman-heal/podman-breakage.js';

// The I/O side of doctor: read-only. Every probe is bounded and never throws: what cannot be
// read is a fact too.

const PODMAN_USER_GENERATORS = [
  '/usr/lib/systemd/user-generators/podman-user-generator',
  '/usr/local/lib/systemd/user-generators/podman-user-generator',
  '/etc/systemd/user-generators/podman-user-generator',
];
const exists = (p: string) =>
  access(p).then(
    () => true,
    () => false,
  );
const text = (p: string) => readFile(p, 'utf8').catch(() => undefined);

async function cmd(bin: string, args: string[], env?: Record<string, string | undefined>) {
  return execa(bin, args, {
    reject: false,
    timeout: 15_000,
    stdin: 'ignore',
    ...(env ? { env, extendEnv: false } : {}),
  });
}

/** Subordinate ids of a user in /etc/subuid or /etc/subgid text (by name or uid). */
export function subIdCount(file: string | undefined, user: string, uid: number): number | undefined {
  if (file === undefined) return undefined;
  let total = 0;
  for (const line of file.split('\n')) {
    const [who, , count] = line.trim().split(':');
    if (who === user || who === String(uid)) total += Number(count) || 0;
  }
  return total;
}

/** The files the generator refused (by full path when it names one), from its dry-run log. */
export function rejectedFiles(log: string): NonNullable<DoctorFacts['rejectedUnitFiles']> {
  return parseGeneratorStderr(log).flatMap((p) =>
    // A refusal always names its file: a path when loading, a name (and often a path) when converting.
    p.reason !== undefined ? [{ file: p.path ?? p.file!, error: p.reason }] : [],
  );
}

/**
 * Where Podman looks for its container init when containers.conf names none (containers-common's
 * FindInitBinary, Podman 5): the old default path, the helper binary directories, then PATH.
 */
export function initBinaryCandidates(pathEnv: string | undefined): string[] {
  const helperDirs = ['/usr/local/libexec/podman', '/usr/local/lib/podman', '/usr/libexec/podman', '/usr/lib/podman'];
  const onPath = (pathEnv ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter((d) => d.startsWith('/'));
  return [
    ...new Set(['/usr/libexec/podman/catatonit', ...[...helperDirs, ...onPath].map((d) => join(d, 'catatonit'))]),
  ];
}

/**
 * The `init_path` containers.conf sets, from the files' text in the order Podman reads them
 * (a later file overrides): `[containers]` before `[engine]`, where Podman accepts it too.
 */
export function initPathOf(confs: Array<string | undefined>): string | undefined {
  const found: Record<string, string> = {};
  for (const conf of confs) {
    let section = '';
    for (const line of (conf ?? '').split('\n')) {
      const header = line.match(/^\s*\[\s*([\w.-]+)\s*\]/);
      if (header) section = header[1]!;
      const m = line.match(/^\s*init_path\s*=\s*(?:"([^"]*)"|'([^']*)')/);
      if (m && (section === 'containers' || section === 'engine')) found[section] = m[1] ?? m[2] ?? '';
    }
  }
  return found.containers || found.engine || undefined;
}

/** containers.conf and its drop-ins, as rootless Podman reads them (CONTAINERS_CONF: that file only). */
async function containersConfFiles(env: Record<string, string | undefined>, configHome: string, uid: number) {
  const dropIns = async (dir: string) =>
    (await readdir(dir).catch(() => [] as string[]))
      .filter((n) => n.endsWith('.conf'))
      .sort()
      .map((n) => join(dir, n));
  const files = env.CONTAINERS_CONF
    ? [env.CONTAINERS_CONF]
    : [
        '/usr/share/containers/containers.conf',
        ...(await dropIns('/usr/share/containers/containers.conf.d')),
        '/etc/containers/containers.conf',
        ...(await dropIns('/etc/containers/containers.conf.d')),
        '/etc/containers/containers.rootless.conf',
        ...(await dropIns('/etc/containers/containers.rootless.conf.d')),
        ...(await dropIns(`/etc/containers/containers.rootless.conf.d/${uid}`)),
        join(configHome, 'containers', 'containers.conf'),
        ...(await dropIns(join(configHome, 'containers', 'containers.conf.d'))),
      ];
  return env.CONTAINERS_CONF_OVERRIDE ? [...files, env.CONTAINERS_CONF_OVERRIDE] : files;
}

/** Whether an app's rendered units run a container with Podman's init (`init: true`). */
export function usesInit(files: Array<{ name: string; content: string }>): boolean {
  return files.some((f) => f.name.endsWith('.container') && /^RunInit=true$/m.test(f.content));
}

export async function gatherFacts(
  paths: Paths,
  env: Record<string, string | undefined>,
  home: string,
  podman: Podman = podmanCli(),
): Promise<DoctorFacts> {
  const { username: user, uid } = userInfo();
  const configHome = env.XDG_CONFIG_HOME?.startsWith('/') ? env.XDG_CONFIG_HOME : join(home, '.config');
  const runtime = env.XDG_RUNTIME_DIR;
  const [podmanVersion, quadletBin, userGen, initName, linger, cgroupV2, subuid, subgid, newuidmap, portStart] =
    await Promise.all([
      podman.version().catch(() => undefined),
      findQuadlet(env),
      Promise.all(PODMAN_USER_GENERATORS.map(exists)).then((a) => a.some(Boolean)),
      text('/proc/1/comm').then((t) => t?.trim()),
      exists(`/var/lib/systemd/linger/${user}`),
      exists('/sys/fs/cgroup/cgroup.controllers'),
      text('/etc/subuid').then((t) => subIdCount(t, user, uid)),
      text('/etc/subgid').then((t) => subIdCount(t, user, uid)),
      exists('/usr/bin/newuidmap'),
      text('/proc/sys/net/ipv4/ip_unprivileged_port_start').then((t) => (t ? Number(t.trim()) : undefined)),
    ]);

  const runtimeStat = runtime ? await stat(runtime).catch(() => undefined) : undefined;
  const manager = await cmd('systemctl', ['--user', 'is-system-running']);
  const managerState = String(manager.stdout).trim();
  const reachable = /^(running|degraded|starting|initializing|maintenance|stopping)$/.test(managerState);
  const failed =
    managerState === 'degraded'
      ? String((await cmd('systemctl', ['--user', 'list-units', '--failed', '--plain', '--no-legend'])).stdout)
          .split('\n')
          .map((l) => l.trim().split(/\s+/)[0]!)
          .filter(Boolean)
      : undefined;

  let delegated: string[] | undefined;
  if (cgroupV2) {
    const userService = `/sys/fs/cgroup/user.slice/user-${uid}.slice/user@${uid}.service/cgroup.controllers`;
    delegated = (await text(userService))?.trim().split(/\s+/).filter(Boolean);
  }

  // The state and the installed apps (their rendered units hold the ports and secrets).
  let stateFact: DoctorFacts['state'];
  let publishedPorts: DoctorFacts['publishedPorts'] = [];
  let missingSecrets: DoctorFacts['missingSecrets'];
  let initApps: DoctorFacts['initApps'];
  let installedCatalogs: Array<{ app: string; catalog: string }> | undefined;
  // The volumes the installed apps' units create, with their labels: what a lost database forgets.
  const ourVolumes: Record<string, string[]> = {};
  // Their containers: whether a network helper that is gone is one they need.
  const ourContainers: string[] = [];
  try {
    const state = await readState(paths.stateDir);
    installedCatalogs = Object.entries(state.apps).flatMap(([app, i]) =>
      i.intent !== 'absent' && i.catalog ? [{ app, catalog: i.catalog }] : [],
    );
    stateFact = { ok: true, apps: Object.keys(state.apps).length };
    const desired = await loadDesired(paths, state, {
      facts:
        (await readRecordedFacts(paths.stateDir)) ?? readNodeFacts(undefined, undefined, paths.nodeNetwork?.subnet),
      writeCache: false,
      validator: async () => (await import('../manifest/validate-manifest.js')).createManifestValidator(),
    });
    for (const app of desired.apps) {
      if (app.intent === 'absent') continue;
      for (const c of app.rendered?.containers ?? []) {
        for (const p of c.hostPorts) publishedPorts.push({ app: app.id, port: p.hostPort });
        ourContainers.push(c.containerName);
      }
    }
    for (const app of desired.apps) {
      if (app.intent === 'absent') continue;
      for (const f of app.rendered?.files ?? []) {
        const name = f.name.endsWith('.volume') ? /^VolumeName=(.+)$/m.exec(f.content)?.[1] : undefined;
        if (name) ourVolumes[name] = volumeUnitLabels(f.content);
      }
    }
    initApps = desired.apps.filter((a) => a.intent !== 'absent' && usesInit(a.rendered?.files ?? [])).map((a) => a.id);
    const wantedSecrets = desired.apps
      .filter((a) => a.intent !== 'absent')
      .flatMap((a) => (a.rendered?.secrets ?? []).map((s) => ({ app: a.id, secret: s.name })));
    if (podmanVersion !== undefined) {
      const have = await podman.secrets().catch(() => undefined);
      if (have) missingSecrets = wantedSecrets.filter((s) => !(s.secret in have));
    }
  } catch (e) {
    stateFact = { ok: false, apps: 0, error: (e as Error).message };
    publishedPorts = [];
  }

  // Podman's container init: containers.conf's init_path when set (used as it is), else searched.
  const configuredInit = initPathOf(await Promise.all((await containersConfFiles(env, configHome, uid)).map(text)));
  const executable = (p: string) =>
    access(p, constants.X_OK).then(
      () => true,
      () => false,
    );
  let initPath: string | undefined;
  for (const p of configuredInit ? [configuredInit] : initBinaryCandidates(env.PATH))
    if (await executable(p)) {
      initPath = p;
      break;
    }

  const unitParent = dirname(paths.unitRoot);
  let probe = unitParent;
  while (!(await exists(probe)) && probe !== '/') probe = dirname(probe);
  const writable = await access(probe, constants.W_OK).then(
    () => true,
    () => false,
  );
  let rejected: DoctorFacts['rejectedUnitFiles'];
  if (quadletBin) {
    // The user's whole search path, as podman-user-generator sees it: others' files count,
    // since one bad file drops every unit of its directory.
    const { QUADLET_UNIT_DIRS: _ignored, ...userEnv } = env;
    const dry = await cmd(quadletBin, ['-dryrun', '-user'], userEnv);
    rejected = rejectedFiles(String(dry.stderr));
  }

  const podmanState =
    podmanVersion !== undefined
      ? {
          breakages: await diagnosePodman({
            volumes: Object.keys(ourVolumes),
            containers: ourContainers,
            ...(env.XDG_RUNTIME_DIR?.startsWith('/') ? { runtimeDir: env.XDG_RUNTIME_DIR } : {}),
          }),
          volumeLabels: ourVolumes,
        }
      : undefined;
  const snapshots = await snapshotFacts(join(paths.stateDir, 'snapshots'));
  const node = process.execPath;
  const hook = await systemHookState(node);
  const unitState = reachable
    ? String(
        (await cmd('systemctl', ['--user', 'show', '-p', 'Id,ActiveState,UnitFileState', '--', ...USER_UNITS])).stdout,
      )
    : '';
  const shown = parseShowBlocks(unitState);
  const userUnits = await Promise.all(
    USER_UNITS.map(async (unit) => {
      const installedText = await text(join(configHome, 'systemd', 'user', unit));
      const template = (await text(join(UNITS_DIR, unit))) ?? '';
      return {
        unit,
        installed: installedText !== undefined,
        current:
          installedText !== undefined &&
          installedText === fillTemplate(template, { node, appsDir: appsDirOf(installedText) }),
        active: shown[unit]?.ActiveState,
        enabled: shown[unit]?.UnitFileState,
        optional: unit === 'archy-quadlet-watch.service',
      };
    }),
  );
  // The reconcile service is a oneshot run by its timer: inactive between runs is its normal state.
  for (const u of userUnits)
    if (u.unit === 'archy-quadlet-reconcile.service' && u.installed)
      Object.assign(u, { active: 'active', enabled: 'enabled' });

  // What each installed entry point reads: a catalog pinned in its unit, else the configuration's.
  const configured = paths.configuredCatalog ?? paths.appsDir;
  const hookText = await text(SYSTEM_GENERATOR);
  const entryPoints = [
    ...(hookText !== undefined ? [{ name: 'the boot hook', text: hookText }] : []),
    ...(await Promise.all(
      USER_UNITS.filter((u) => u.endsWith('.service')).map(async (u) => ({
        name: u,
        text: await text(join(configHome, 'systemd', 'user', u)),
      })),
    )),
  ].flatMap((e) => {
    if (e.text === undefined) return [];
    const pinned = appsDirOf(e.text);
    return [{ name: e.name, catalog: pinned ? resolve(pinned) : configured, pinned: pinned !== undefined }];
  });

  return {
    user,
    uid,
    snapshots,
    ...(podmanState ? { podmanState } : {}),
    ...(podmanVersion !== undefined ? { podmanVersion } : {}),
    ...(quadletBin ? { quadletBin } : {}),
    podmanUserGenerator: userGen,
    initBinary: {
      ...(initPath ? { path: initPath } : {}),
      ...(configuredInit ? { configured: configuredInit } : {}),
    },
    ...(initApps ? { initApps } : {}),
    ...(runtime ? { xdgRuntimeDir: runtime } : {}),
    ...(runtimeStat
      ? { runtimeDirOk: { exists: true, ownedByUser: runtimeStat.uid === uid, mode: runtimeStat.mode & 0o777 } }
      : runtime
        ? { runtimeDirOk: { exists: false, ownedByUser: false, mode: 0 } }
        : {}),
    userManager: reachable
      ? { state: managerState, ...(failed ? { failedUnits: failed } : {}) }
      : { error: String(manager.stderr || manager.stdout || manager.shortMessage).trim() || 'no answer' },
    sessionBus: {
      ...(env.DBUS_SESSION_BUS_ADDRESS ? { address: env.DBUS_SESSION_BUS_ADDRESS } : {}),
      socketExists: runtime ? await exists(join(runtime, 'bus')) : false,
    },
    ...(initName ? { initName } : {}),
    lingerEnabled: linger,
    cgroup: cgroupV2 ? { version: 2, ...(delegated ? { delegated } : {}) } : { version: 1 },
    ...(subuid !== undefined ? { subuid } : {}),
    ...(subgid !== undefined ? { subgid } : {}),
    newuidmap,
    ...(portStart !== undefined ? { unprivilegedPortStart: portStart } : {}),
    publishedPorts,
    unitDir: { path: unitParent, writable, exists: await exists(unitParent) },
    ...(rejected ? { rejectedUnitFiles: rejected } : {}),
    generatorHook: { path: SYSTEM_GENERATOR, ...hook },
    userUnits,
    state: stateFact,
    ...(missingSecrets ? { missingSecrets } : {}),
    ...(installedCatalogs ? { catalogs: { entryPoints, apps: installedCatalogs } } : {}),
    configProblems: readNodeConfig(env, home).problems.map((p) => `${p.file}:${p.line}: ${p.message}`),
  };
}

/** The snapshot files kept per app (the last update's), and the free space of their file system. */
async function snapshotFacts(dir: string): Promise<NonNullable<DoctorFacts['snapshots']>> {
  const apps: Array<{ app: string; bytes: number }> = [];
  for (const app of (await readdir(dir).catch(() => [] as string[])).sort()) {
    let bytes = 0;
    for (const f of await readdir(join(dir, app)).catch(() => [] as string[]))
      bytes += (await stat(join(dir, app, f)).catch(() => undefined))?.size ?? 0;
    if (bytes > 0) apps.push({ app, bytes });
  }
  const fs = await statfs(dir).catch(() => undefined);
  return { apps, ...(fs ? { freeBytes: fs.bavail * fs.bsize } : {}) };
}
