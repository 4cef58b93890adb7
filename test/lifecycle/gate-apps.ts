// The gate's test catalog (test/lab-apps): what a user would check of each app.

export interface GateApp {
  id: string;
  port: number;
  path: string;
  /** Whether a body served at `path` is the app working. */
  works(body: string): boolean;
  /** Podman containers of the app. */
  containers: string[];
  /** What must survive restart, reinstall, reboot and uninstall. */
  volumes: string[];
  secrets: string[];
  /** Seconds for --wait on install and start (a build takes longer). */
  startTimeoutSec: number;
  /** Its longest stop timeout, in seconds. */
  stopTimeoutSec: number;
  /** Gate apps that need this one (provides/requires): stopped and uninstalled before it. */
  dependents?: string[];
  /** The gate app it needs: installed, started and restarted before it. */
  needs?: string;
}

const hashes = (b: string) => {
  const lines = b.trim().split('\n');
  return lines.length === 2 && /^[0-9a-f]{64}\s+-$/.test(lines[0]!) && lines[0] === lines[1];
};

export const GATE_APPS: GateApp[] = [
  {
    id: 'web',
    port: 18081,
    path: '/',
    works: (b) => b === 'ok\n',
    containers: ['web'],
    volumes: [],
    secrets: [],
    startTimeoutSec: 60,
    stopTimeoutSec: 2,
  },
  {
    id: 'stack',
    port: 18082,
    path: '/cgi-bin/index',
    works: (b) => b === 'web-ok\napi-ok\ndb-ok\n',
    containers: ['stack-api', 'stack-db', 'stack-web'],
    volumes: [],
    secrets: [],
    startTimeoutSec: 90,
    stopTimeoutSec: 2,
  },
  {
    id: 'companion',
    port: 18083,
    path: '/',
    works: (b) => b === 'companion-ok\n',
    containers: ['companion'],
    volumes: [],
    secrets: [],
    startTimeoutSec: 120,
    stopTimeoutSec: 2,
  },
  {
    id: 'slowstop',
    port: 18084,
    path: '/',
    works: (b) => b === 'ok\n',
    containers: ['slowstop'],
    volumes: [],
    secrets: [],
    startTimeoutSec: 60,
    stopTimeoutSec: 5,
  },
  {
    id: 'secret-app',
    port: 18085,
    path: '/',
    works: hashes,
    containers: ['secret-app'],
    volumes: [],
    secrets: ['secret-app-token'],
    startTimeoutSec: 60,
    stopTimeoutSec: 2,
  },
  {
    id: 'data',
    port: 18086,
    path: '/log',
    works: (b) => /^(.+\n)+$/.test(b),
    containers: ['data'],
    volumes: ['data-store'],
    secrets: [],
    startTimeoutSec: 60,
    stopTimeoutSec: 2,
  },
  // A provider and its dependent (apps that need apps): rpc-client fetches rpc-core's /rpc/
  // by the interface's name with rpc-core's password, and serves what it got.
  {
    id: 'rpc-core',
    port: 18091,
    path: '/',
    works: (b) => b === 'rpc-core\n',
    containers: ['rpc-core'],
    volumes: [],
    secrets: ['rpc-core-password'],
    startTimeoutSec: 60,
    stopTimeoutSec: 2,
    dependents: ['rpc-client'],
  },
  {
    id: 'rpc-client',
    port: 18093,
    path: '/',
    works: (b) => b === 'rpc-core\n',
    containers: ['rpc-client'],
    volumes: [],
    secrets: [],
    startTimeoutSec: 90,
    stopTimeoutSec: 2,
    needs: 'rpc-core',
  },
];

/** The gate's apps in the order they are stopped and uninstalled: dependents before their providers. */
export const STOP_ORDER: GateApp[] = [...GATE_APPS].reverse();

export const APP_STATES = [
  'absent',
  'not-installed',
  'stopped',
  'starting',
  'running',
  'stopping',
  'failed',
  'partial',
  'waiting',
  'uninstalling',
] as const;

/**
 * The states `status` may report, in order, while an event lasts: a pattern over the
 * sampled states with repeats collapsed. `failed` is never allowed.
 */
export const ALLOWED_SEQUENCES: Record<string, RegExp> = {
  // From nothing (or stopped) to running; a stack's first containers run while the later
  // ones still wait for them (partial).
  install: /^(absent )?((stopped|starting|partial|waiting) )*running$/,
  start: /^((stopped|starting|partial|waiting) )*running$/,
  stop: /^((running|stopping|partial) )*stopped$/,
  restart: /^((running|stopping|stopped|starting|partial) )*running$/,
  // A new release: watched (updating) until healthy on it.
  update: /^((running|updating|stopping|stopped|starting|partial) )*running$/,
  // A release that never gets healthy: watched, then the last good set back.
  rollback: /^((running|updating|stopping|stopped|starting|partial|failed|rolling-back) )*rolled-back$/,
  reinstall: /^((running|stopping|partial|uninstalling|absent|stopped|starting|waiting) )*running$/,
  uninstall: /^((running|stopping|partial|uninstalling) )*absent$/,
};

/** Collapses a sampled state list into the string the patterns above match. */
export function stateSequence(states: string[]): string {
  const out: string[] = [];
  for (const s of states) if (out[out.length - 1] !== s) out.push(s);
  return out.join(' ');
}
