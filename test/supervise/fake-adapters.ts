import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { resolvePaths, type Paths } from '../../src/paths.js';
import type { Systemctl } from '../../src/supervise/systemctl.js';
import type { Podman } from '../../src/supervise/podman.js';
import type { QuadletCheck } from '../../src/supervise/observe.js';
import type { Supervisor } from '../../src/supervise/supervisor.js';
import type { UnitStatus } from '../../src/supervise/types.js';
import type { UnitSnapshot, UnitSnapshotStore } from '../../src/supervise/unit-snapshot.js';
import { serviceOfUnitFile } from '../../src/names.js';
import { unit } from './fake-systemd.js';

// Plain-data adapters for tests of the pass loop and of observe: a systemd that knows the
// units whose files are in the unit tree after a daemon-reload, a Podman that counts its
// calls, and a Quadlet that accepts everything unless told otherwise. Real files in a
// temporary directory; no process is started.

export interface FakeSystemctl extends Systemctl {
  units: Record<string, UnitStatus>;
  verbs: string[];
  /** Behaviour switches for the loop's rules. */
  reloadClearsOutdated: boolean;
  failStart: boolean;
  startLeavesInactive: boolean;
  /** While set, every show waits for it: a pass held in the middle. */
  gate?: Promise<void>;
  /** Daemon-reloads so far: the fake's load stamp (unit-snapshot.ts). */
  loads: number;
}

export function fakeSystemctl(unitRoot: string): FakeSystemctl {
  let calls = 0;
  const s: FakeSystemctl = {
    units: {},
    verbs: [],
    reloadClearsOutdated: true,
    loads: 0,
    failStart: false,
    startLeavesInactive: false,
    get calls() {
      return calls;
    },
    async show(names) {
      if (s.gate) await s.gate;
      calls++;
      s.verbs.push('show');
      // As systemd: a pattern stands for the loaded units it matches; a name for its unit, known or not.
      return Object.fromEntries(
        names.flatMap((n) => {
          if (!n.includes('*')) return [[n, { ...(s.units[n] ?? unit('inactive', { loadState: 'not-found' })) }]];
          return Object.entries(s.units)
            .filter(([u, st]) => globMatch(n, u) && st.loadState !== 'not-found')
            .map(([u, st]) => [u, { ...st }]);
        }),
      );
    },
    async list(names) {
      if (s.gate) await s.gate;
      calls++;
      s.verbs.push('list');
      // As list-units: only loaded units, their state and job, by name or pattern.
      return Object.fromEntries(
        Object.entries(s.units)
          .filter(([u, st]) => st.loadState !== 'not-found' && names.some((n) => globMatch(n, u)))
          .map(([u, st]) => [
            u,
            {
              loadState: st.loadState,
              activeState: st.activeState,
              subState: st.subState,
              jobQueued: st.jobQueued === true,
            },
          ]),
      );
    },
    async daemonReload() {
      calls++;
      s.loads++;
      s.verbs.push('daemon-reload');
      const present = new Set<string>();
      for (const app of safeReaddir(unitRoot))
        for (const f of safeReaddir(join(unitRoot, app))) present.add(serviceOfUnitFile(f) ?? '');
      for (const svc of present) if (svc && !s.units[svc]) s.units[svc] = unit('inactive');
      if (s.reloadClearsOutdated) for (const u of Object.values(s.units)) u.needDaemonReload = false;
    },
    async start(names) {
      calls++;
      s.verbs.push('start');
      if (s.failStart) throw new Error('systemctl --user start: Job failed');
      if (!s.startLeavesInactive) for (const n of names) Object.assign(s.units[n]!, running());
    },
    async stop(names) {
      calls++;
      s.verbs.push('stop');
      for (const n of names) Object.assign(s.units[n]!, { activeState: 'inactive', subState: 'dead' });
    },
    async restart(names) {
      calls++;
      s.verbs.push('restart');
      for (const n of names) Object.assign(s.units[n]!, running());
    },
    async resetFailed() {
      calls++;
      s.verbs.push('reset-failed');
    },
  };
  return s;
}

/** A unit that has just started (systemd's timestamps are CLOCK_MONOTONIC µs). */
function running(): Partial<UnitStatus> {
  const now = Number(process.hrtime.bigint() / 1000n);
  return { activeState: 'active', subState: 'running', execMainStartMono: now, activeEnterMono: now };
}

function globMatch(pattern: string, name: string): boolean {
  if (!pattern.includes('*')) return pattern === name;
  const re = pattern
    .split('*')
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${re}$`).test(name);
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A Podman with nothing in it that records which of its methods were called. */
export function fakePodman(): Podman & { called: string[] } {
  const called: string[] = [];
  const rec =
    <T>(name: string, value: T) =>
    async () => {
      called.push(name);
      return value;
    };
  return {
    called,
    secrets: rec('secrets', {}),
    createSecret: rec('createSecret', 'f00d'.repeat(6)),
    removeSecret: rec('removeSecret', undefined),
    volumes: rec('volumes', {}),
    removeVolume: rec('removeVolume', undefined),
    containers: rec('containers', {}),
    appContainers: rec('appContainers', {}),
    imageExists: rec('imageExists', true),
    networks: rec('networks', {}),
    removeNetwork: rec('removeNetwork', undefined),
    images: rec('images', {}),
    appImages: rec('appImages', []),
    removeImage: rec('removeImage', undefined),
    removeContainer: rec('removeContainer', undefined),
    inspectContainers: rec('inspectContainers', []),
    setRestartPolicy: rec('setRestartPolicy', undefined),
    renameContainer: rec('renameContainer', undefined),
    startContainer: rec('startContainer', undefined),
    tagImage: rec('tagImage', undefined),
    enterRootlessNetns: rec('enterRootlessNetns', undefined),
    reloadNetwork: rec('reloadNetwork', undefined),
    exportVolume: rec('exportVolume', undefined),
    restoreVolume: rec('restoreVolume', undefined),
    importSecret: rec('importSecret', 'f00d'.repeat(6)),
  } as unknown as Podman & { called: string[] };
}

export function fakeQuadlet(rejected: Record<string, string> = {}): QuadletCheck & { asked: string[][] } {
  const asked: string[][] = [];
  return {
    asked,
    async servicesOf() {
      return new Set<string>();
    },
    async rejections(apps) {
      asked.push([...apps.keys()]);
      return Object.fromEntries(Object.entries(rejected).filter(([id]) => apps.has(id)));
    },
  };
}

export interface FakeNode {
  root: string;
  paths: Paths;
  sv: Supervisor & {
    systemctl: FakeSystemctl;
    podman: ReturnType<typeof fakePodman>;
    quadlet: ReturnType<typeof fakeQuadlet>;
  };
  install(id: string, intent?: 'running' | 'stopped'): void;
  cleanup(): void;
}

/** A node in a temporary directory with the lab catalog (test/lab-apps) and fake adapters. */
/** The node facts of every fake node: fixed, so renderings do not depend on the machine. */
export const TEST_FACTS = {
  hostname: 'archy-test',
  mdnsName: 'archy-test.local',
  lanAddress: '192.168.1.20',
  networkSubnet: '10.89.254.0/24',
} as const;

export function fakeNode(): FakeNode {
  const root = mkdtempSync(join(tmpdir(), 'aq-fake-node-'));
  const appsDir = join(root, 'apps');
  cpSync(new URL('../lab-apps', import.meta.url), appsDir, { recursive: true });
  const paths = resolvePaths({
    env: {
      XDG_CONFIG_HOME: join(root, 'config'),
      XDG_STATE_HOME: join(root, 'state'),
      XDG_DATA_HOME: join(root, 'data'),
    },
    home: root,
    bundledAppsDir: appsDir,
  });
  mkdirSync(join(root, 'run'));
  const apps: Record<string, { intent: string; installedAt: string }> = {};
  const systemctl = fakeSystemctl(paths.unitRoot);
  let snapshot: UnitSnapshot | undefined;
  const nowMono = () => Number(process.hrtime.bigint() / 1000n);
  // As the real store: the snapshot kept between passes, systemd's load stamp (a reload makes
  // a new one), and a cid file written at each start of a container that is up.
  const unitSnapshot: UnitSnapshotStore = {
    read: async () => (snapshot ? structuredClone(snapshot) : undefined),
    write: async (next) => {
      snapshot = structuredClone(next);
    },
    loadStamp: async () => `load ${systemctl.loads}`,
    // A container's cid file is written anew at each start: its start time stands for its identity.
    cidStamps: async (services) =>
      Object.fromEntries(
        services.flatMap((svc) => {
          const u = systemctl.units[svc];
          if (!u || u.activeState === 'inactive' || u.activeState === 'failed' || u.execMainStartMono <= 0) return [];
          return [[svc, `start ${u.execMainStartMono}`]];
        }),
      ),
  };
  const sv = {
    paths,
    systemctl,
    unitSnapshot,
    podman: fakePodman(),
    quadlet: fakeQuadlet(),
    busyPorts: async () => [],
    missingFiles: async () => [],
    clock: { nowMs: () => Date.now(), nowMono, bootId: () => 'fake-boot' },
    log: pino({ level: 'silent' }),
    validator: async () => (await import('../../src/manifest/validate-manifest.js')).createManifestValidator(),
    lockPath: join(root, 'run/archy-quadlet.lock'),
    stateLockPath: join(root, 'run/archy-quadlet.state.lock'),
    ledgerPath: join(root, 'run/archy-quadlet.passes.json'),
    nodeFacts: () => TEST_FACTS,
  };
  return {
    root,
    paths,
    sv,
    install(id, intent = 'running') {
      apps[id] = { intent, installedAt: '2026-01-01T00:00:00.000Z' };
      mkdirSync(paths.stateDir, { recursive: true });
      writeFileSync(join(paths.stateDir, 'state.json'), JSON.stringify({ version: 1, apps }));
    },
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}
