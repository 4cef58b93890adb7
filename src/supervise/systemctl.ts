import { execFile } from 'node:child_process';
import type { UnitStatus } from './types.js';

/** The properties one `systemctl --user show` asks for, for every unit at once. */
export const SHOW_PROPERTIES = [
  'Id',
  'LoadState',
  'ActiveState',
  'SubState',
  'Result',
  'NeedDaemonReload',
  'NRestarts',
  'ExecMainStatus',
  'ExecMainStartTimestampMonotonic',
  'ActiveEnterTimestampMonotonic',
  'InactiveEnterTimestampMonotonic',
  // A start job queued behind a provider that is still starting (After=) leaves the unit
  // inactive: without this a pass would enqueue the same start again and again.
  'Job',
  // A hook's transient unit carries the occasion it runs for at the end of its description.
  'Description',
] as const;

/**
 * Splits `systemctl show -p Id,... u1 u2 ...` into each unit's properties, by Id (one block
 * per unit, separated by blank lines; a block without Id is dropped). Pure.
 */
export function parseShowBlocks(text: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const block of text.split(/\n\s*\n/)) {
    const p: Record<string, string> = {};
    for (const line of block.split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) p[line.slice(0, i)] = line.slice(i + 1);
    }
    if (p.Id) out[p.Id] = p;
  }
  return out;
}

/** Parses `systemctl show -p ... u1 u2 ...` (SHOW_PROPERTIES) into each unit's status, by Id. Pure. */
export function parseShow(text: string): Record<string, UnitStatus> {
  const out: Record<string, UnitStatus> = {};
  for (const [id, p] of Object.entries(parseShowBlocks(text))) {
    const num = (k: string) => {
      const n = Number(p[k] ?? 0);
      return Number.isFinite(n) ? n : 0;
    };
    out[id] = {
      loadState: p.LoadState ?? 'not-found',
      activeState: p.ActiveState ?? 'inactive',
      subState: p.SubState ?? 'dead',
      result: p.Result ?? 'success',
      needDaemonReload: p.NeedDaemonReload === 'yes',
      nRestarts: num('NRestarts'),
      execMainStatus: num('ExecMainStatus'),
      execMainStartMono: num('ExecMainStartTimestampMonotonic'),
      activeEnterMono: num('ActiveEnterTimestampMonotonic'),
      inactiveEnterMono: num('InactiveEnterTimestampMonotonic'),
      ...(p.Job ? { jobQueued: true as const } : {}),
      ...(hookKeyOf(p.Description) ? { hookKey: hookKeyOf(p.Description)! } : {}),
    };
  }
  return out;
}

/** The description of a hook's transient unit ends in `[key]`: the occasion it runs for. */
export const HOOK_DESCRIPTION_PREFIX = 'archy-quadlet hook';

/** The description of a pull's transient unit ends in `[image]`. */
export const PULL_DESCRIPTION_PREFIX = 'archy-quadlet pull';

function hookKeyOf(description: string | undefined): string | undefined {
  if (!description?.startsWith(HOOK_DESCRIPTION_PREFIX) && !description?.startsWith(PULL_DESCRIPTION_PREFIX))
    return undefined;
  return /\[([^\]]+)\]$/.exec(description)?.[1];
}

/** A unit as `systemctl list-units` gives it: its state, not its details. */
export interface ListedUnit {
  loadState: string;
  activeState: string;
  subState: string;
  jobQueued: boolean;
}

/** Parses `systemctl list-units --output=json` into each unit's state, by name. Pure. */
export function parseListUnits(text: string): Record<string, ListedUnit> {
  const out: Record<string, ListedUnit> = {};
  const rows = JSON.parse(text.trim() || '[]') as Array<Record<string, string | undefined>>;
  for (const row of Array.isArray(rows) ? rows : []) {
    if (!row?.unit) continue;
    out[row.unit] = {
      loadState: row.load ?? 'not-found',
      activeState: row.active ?? 'inactive',
      subState: row.sub ?? 'dead',
      // The job column is there only while some unit has a job; "-" or empty: none.
      jobQueued: !!row.job && row.job !== '-',
    };
  }
  return out;
}

export interface Systemctl {
  /** One process for all units. Units systemd does not know come back as not-found. */
  show(units: string[]): Promise<Record<string, UnitStatus>>;
  /**
   * The state of the loaded units among these names and patterns, in one cheap process
   * (`list-units`: no per-unit property fetch). A unit systemd has not loaded is not in it.
   */
  list(units: string[]): Promise<Record<string, ListedUnit>>;
  daemonReload(): Promise<void>;
  /** start / stop / restart are only enqueued (--no-block): the next pass sees the result. */
  start(units: string[]): Promise<void>;
  stop(units: string[]): Promise<void>;
  restart(units: string[]): Promise<void>;
  resetFailed(units: string[]): Promise<void>;
  /** Counts the systemctl processes started (for benchmarks). */
  readonly calls: number;
}

const TIMEOUT_MS = 30_000;

/** A failed systemctl call as a user can act on: which verb, and what to do when the manager is out of reach. */
export function systemctlError(args: string[], output: string): string {
  const units = args.indexOf('--');
  const what = units >= 0 ? `${args[0]} (${args.length - units - 1} unit(s))` : args.join(' ');
  const unreachable = /failed to connect|\bbus\b|XDG_RUNTIME_DIR/i.test(output);
  return `systemctl --user ${what}: ${output.split('\n')[0]}${
    unreachable
      ? ' (the systemd user manager cannot be reached: run archy-quadlet as the user that owns the apps, ' +
        'in a session with XDG_RUNTIME_DIR set, such as `machinectl shell USER@`; ' +
        'with linger enabled: loginctl enable-linger USER)'
      : ''
  }`;
}

export function userSystemctl(bin = 'systemctl'): Systemctl {
  let calls = 0;
  // node:child_process rather than execa here, on purpose: this adapter runs on every pass
  // (every 30 s, and in every CLI call), and importing execa alone costs ~60 ms of the
  // 300 ms a whole no-op pass may take (measured: bench/, README). Everything else uses execa.
  const run = (args: string[]) =>
    new Promise<string>((resolve, reject) => {
      calls++;
      execFile(
        bin,
        ['--user', ...args],
        { timeout: TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
        (err, stdout, stderr) => {
          if (err) reject(new Error(systemctlError(args, (stderr || stdout || err.message).trim())));
          else resolve(stdout);
        },
      );
    });
  return {
    get calls() {
      return calls;
    },
    async show(units) {
      if (units.length === 0) return {};
      return parseShow(await run(['show', '-p', SHOW_PROPERTIES.join(','), '--', ...units]));
    },
    async list(units) {
      if (units.length === 0) return {};
      return parseListUnits(await run(['list-units', '--all', '--output=json', '--', ...units]));
    },
    async daemonReload() {
      await run(['daemon-reload']);
    },
    async start(units) {
      await run(['start', '--no-block', '--', ...units]);
    },
    async stop(units) {
      await run(['stop', '--no-block', '--', ...units]);
    },
    async restart(units) {
      await run(['restart', '--no-block', '--', ...units]);
    },
    async resetFailed(units) {
      await run(['reset-failed', '--', ...units]);
    },
  };
}
