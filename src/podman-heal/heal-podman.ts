import { lstat, readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { execa } from 'execa';
import { networkBreakagesOf } from './network-helpers.js';
import { probeNetworkHelpers, rootlessRunRoot } from './probe-network-helpers.js';
import { startHelperUntilRunning } from './start-helper.js';
import { lostVolumesOf, parseOwnerMode, runtimeBreakageOf, type PodmanBreakage } from './podman-breakage.js';

// The I/O side of healing rootless Podman (see podman-breakage.ts). Used by `doctor` (to
// detect), `doctor --fix` and the supervisor (to recover). Touches only Podman's runtime
// state under $XDG_RUNTIME_DIR and the records of volumes Podman lost: never a volume's data,
// an image or a secret.

/** The user's processes that hold Podman's runtime state: what recovery stops. */
const PODMAN_PROCESSES = new Set([
  'podman',
  'conmon',
  'catatonit',
  'pasta',
  'pasta.avx2',
  'slirp4netns',
  'rootlessport',
  'rootlessport-child',
  'aardvark-dns',
  'netavark',
]);

/**
 * What Podman keeps under $XDG_RUNTIME_DIR: the pause process and its tmp dir, the API
 * socket's dir, the network namespaces, and the runroot `containers/` but for its auth.json
 * (the user's registry logins, which a recovery must not drop).
 */
const RUNTIME_ENTRIES = ['libpod', 'podman', 'netns'];
const RUNROOT = 'containers';
const RUNROOT_KEPT = new Set(['auth.json']);

export interface HealDeps {
  podmanBin?: string;
  /** $XDG_RUNTIME_DIR of the user. */
  runtimeDir: string;
  uid: number;
}

async function podman(bin: string, args: string[], timeout = 60_000) {
  return execa(bin, args, { reject: false, timeout, stdin: 'ignore' });
}

/** The breakage `podman info` shows (a stale runtime), or undefined when it works or fails otherwise. */
export async function runtimeBreakage(bin = 'podman'): Promise<PodmanBreakage | undefined> {
  const r = await podman(bin, ['info', '--format', '{{.Store.GraphRoot}}'], 30_000);
  return r.exitCode === 0 ? undefined : runtimeBreakageOf(String(r.stderr || r.shortMessage));
}

/**
 * Volumes of ours (`ours`: the names the installed apps' units create) with data on disk that
 * Podman does not know. Undefined when Podman cannot be asked.
 */
export async function lostVolumes(ours: string[], bin = 'podman'): Promise<PodmanBreakage | undefined> {
  if (ours.length === 0) return undefined;
  const root = await podman(bin, ['info', '--format', '{{.Store.VolumePath}}'], 30_000);
  const known = await podman(bin, ['volume', 'ls', '--format', '{{.Name}}']);
  if (root.exitCode !== 0 || known.exitCode !== 0) return undefined;
  const volumePath = String(root.stdout).trim();
  const onDisk: string[] = [];
  for (const e of await readdir(volumePath, { withFileTypes: true }).catch(() => []))
    if (e.isDirectory() && (await readdir(join(volumePath, e.name)).catch(() => [] as string[])).includes('_data'))
      onDisk.push(e.name);
  return lostVolumesOf(onDisk, String(known.stdout).split('\n').filter(Boolean), ours);
}

/** Pids of the user's Podman processes (by /proc: real uid and command name). */
async function podmanProcesses(uid: number): Promise<number[]> {
  const out: number[] = [];
  for (const d of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const status = await readFile(`/proc/${d}/status`, 'utf8').catch(() => '');
    const name = /^Name:\s*(.+)$/m.exec(status)?.[1]?.trim();
    const realUid = Number(/^Uid:\s*(\d+)/m.exec(status)?.[1]);
    if (realUid !== uid) continue;
    // rootlessport's child is named "exe": its argv[0] says what it is.
    const argv0 = (await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '')).split('\0')[0] ?? '';
    if ((name && PODMAN_PROCESSES.has(name)) || PODMAN_PROCESSES.has(basename(argv0))) out.push(Number(d));
  }
  return out;
}

/**
 * Recovers a stale runtime: stops what is left of the user's Podman processes, clears Podman's
 * runtime state under $XDG_RUNTIME_DIR, runs `podman system migrate` (and `renumber` when it
 * reports a lock problem). Returns what it did, a line each; throws when Podman still fails.
 */
export async function healStaleRuntime(d: HealDeps): Promise<string[]> {
  const bin = d.podmanBin ?? 'podman';
  const done: string[] = [];
  const pids = await podmanProcesses(d.uid);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  for (let i = 0; i < 50 && (await podmanProcesses(d.uid)).length > 0; i++)
    await new Promise((r) => setTimeout(r, 100));
  if (pids.length > 0) done.push(`stopped ${pids.length} Podman process(es) left over (pids ${pids.join(', ')})`);
  const cleared: string[] = [];
  const runroot = await readdir(join(d.runtimeDir, RUNROOT)).catch(() => [] as string[]);
  const entries = [...RUNTIME_ENTRIES, ...runroot.filter((e) => !RUNROOT_KEPT.has(e)).map((e) => join(RUNROOT, e))];
  for (const entry of entries) {
    const p = join(d.runtimeDir, entry);
    const there = await lstat(p).then(
      () => true,
      () => false,
    );
    if (!there) continue;
    await rm(p, { recursive: true, force: true });
    cleared.push(p);
  }
  if (cleared.length > 0) done.push(`cleared Podman's runtime state: ${cleared.join(', ')}`);
  const migrate = await podman(bin, ['system', 'migrate'], 180_000);
  const migrateOut = String(migrate.stderr || migrate.stdout).trim();
  if (migrate.exitCode !== 0 && /lock/i.test(migrateOut)) {
    const renumber = await podman(bin, ['system', 'renumber'], 180_000);
    done.push(`podman system renumber: ${renumber.exitCode === 0 ? 'done' : String(renumber.stderr).trim()}`);
  } else done.push(`podman system migrate: ${migrate.exitCode === 0 ? 'done' : migrateOut}`);
  const info = await podman(bin, ['info', '--format', '{{.Store.GraphRoot}}'], 30_000);
  if (info.exitCode !== 0)
    throw new Error(`Podman still fails after recovery: ${String(info.stderr || info.shortMessage).trim()}`);
  const stale = await staleHealthUnits(bin);
  if (stale.length > 0) {
    await execa('systemctl', ['--user', 'stop', '--', ...stale], { reject: false, timeout: 60_000, stdin: 'ignore' });
    await execa('systemctl', ['--user', 'reset-failed', '--', ...stale], {
      reject: false,
      timeout: 60_000,
      stdin: 'ignore',
    });
    done.push(`stopped ${stale.length} health-check unit(s) of containers that are gone`);
  }
  return done;
}

/**
 * The transient health-check units (`<container id>-<random>.timer` and `.service`, made by
 * Podman with systemd-run) of containers that no longer exist: their cleanup never ran when
 * conmon was killed, and they fire and fail for good (a degraded user manager).
 */
async function staleHealthUnits(bin: string): Promise<string[]> {
  const listed = await execa(
    'systemctl',
    ['--user', 'list-units', '--all', '--plain', '--no-legend', '--type=timer,service'],
    { reject: false, timeout: 30_000, stdin: 'ignore' },
  );
  const live = await podman(bin, ['ps', '-a', '--no-trunc', '--format', '{{.ID}}']);
  if (listed.exitCode !== 0 || live.exitCode !== 0) return [];
  const ids = new Set(String(live.stdout).split('\n').filter(Boolean));
  return String(listed.stdout)
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((u) => {
      const m = /^([0-9a-f]{64})-[0-9a-f]+\.(timer|service)$/.exec(u);
      return m !== null && !ids.has(m[1]!);
    });
}

/**
 * Registers lost volumes again over their data: each with the labels of its unit, then its
 * directory's owner and mode put back as they were (Podman sets them to the user's on create).
 * Both read and written inside the user namespace (`podman unshare`), where they mean the same.
 */
export async function healLostVolumes(
  volumes: Array<{ name: string; labels: string[] }>,
  bin = 'podman',
): Promise<string[]> {
  const done: string[] = [];
  const root = await podman(bin, ['info', '--format', '{{.Store.VolumePath}}'], 30_000);
  if (root.exitCode !== 0) throw new Error(`podman info: ${String(root.stderr).trim()}`);
  for (const v of volumes) {
    const data = join(String(root.stdout).trim(), v.name, '_data');
    const was = parseOwnerMode(String((await podman(bin, ['unshare', 'stat', '-c', '%u %g %a', data])).stdout));
    if (!was) throw new Error(`${v.name}: cannot read the owner of ${data}`);
    const create = await podman(bin, [
      'volume',
      'create',
      '--ignore',
      ...v.labels.flatMap((l) => ['--label', l]),
      v.name,
    ]);
    if (create.exitCode !== 0) throw new Error(`${v.name}: podman volume create: ${String(create.stderr).trim()}`);
    for (const args of [
      ['chown', `${was.uid}:${was.gid}`, data],
      ['chmod', was.mode, data],
    ]) {
      const r = await podman(bin, ['unshare', ...args]);
      if (r.exitCode !== 0) throw new Error(`${v.name}: ${args[0]} ${data}: ${String(r.stderr).trim()}`);
    }
    done.push(`volume ${v.name} registered again over its data, owner ${was.uid}:${was.gid} mode ${was.mode} kept`);
  }
  return done;
}

/**
 * What is wrong with Podman: a stale runtime (then nothing else can be asked), else lost
 * volumes and network helpers gone. `ours`: the installed apps' volumes and containers;
 * `runtimeDir`: $XDG_RUNTIME_DIR, where the network helpers' files are.
 */
export async function diagnosePodman(
  ours: { volumes: string[]; containers: string[]; runtimeDir?: string },
  bin = 'podman',
): Promise<PodmanBreakage[]> {
  const runtime = await runtimeBreakage(bin);
  if (runtime) return [runtime];
  const lost = await lostVolumes(ours.volumes, bin);
  const network = ours.runtimeDir
    ? networkBreakagesOf(await probeNetworkHelpers(rootlessRunRoot(ours.runtimeDir)), ours.containers)
    : [];
  return [...(lost ? [lost] : []), ...network];
}

/**
 * Recovers from each breakage in turn: what was done, a line each, and what failed. One that
 * fails does not keep the others from being tried (aardvark-dns can come back while pasta
 * does not).
 */
export async function healPodman(
  breakages: PodmanBreakage[],
  d: HealDeps & { volumeLabels: (volume: string) => string[] },
): Promise<{ done: string[]; failed: string[] }> {
  const bin = d.podmanBin ?? 'podman';
  // A helper counts as started again once it is seen running (see start-helper.ts).
  const probe = () => probeNetworkHelpers(rootlessRunRoot(d.runtimeDir));
  const done: string[] = [];
  const failed: string[] = [];
  for (const b of breakages) {
    try {
      await healOne(b);
    } catch (e) {
      failed.push((e as Error).message);
    }
  }
  return { done, failed };

  async function healOne(b: PodmanBreakage): Promise<void> {
    if (b.kind === 'stale-runtime') done.push(...(await healStaleRuntime(d)));
    else if (b.kind === 'network-helper-gone') {
      await startHelperUntilRunning(
        'pasta',
        async () => {
          const r = await podman(bin, ['unshare', '--rootless-netns', 'true']);
          if (r.exitCode !== 0) throw new Error(`podman unshare --rootless-netns: ${String(r.stderr).trim()}`);
        },
        async () => (await probe()).rootlessNetns?.helper?.name !== undefined,
      );
      done.push('entered the rootless network namespace: Podman started its pasta again');
    } else if (b.kind === 'dns-helper-gone') {
      await startHelperUntilRunning(
        'aardvark-dns',
        async () => {
          const r = await podman(bin, ['network', 'reload', b.containers[0]!]);
          if (r.exitCode !== 0) throw new Error(`podman network reload: ${String(r.stderr).trim()}`);
        },
        async () => (await probe()).dns?.helper?.name !== undefined,
      );
      done.push(`reloaded the network of ${b.containers[0]}: netavark started aardvark-dns again`);
    } else
      done.push(
        ...(await healLostVolumes(
          b.volumes.map((name) => ({ name, labels: d.volumeLabels(name) })),
          d.podmanBin,
        )),
      );
  }
}
