import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { run } from '../../src/cli/run.js';

// Every verb at its edges: missing, unknown and hostile arguments, apps that are not
// installed, flags in the wrong order. Every case runs in process through run(argv, io), and
// one in four again through the built CLI as a process (so an unhandled rejection or a stray
// stack trace would show) without paying a Node start for each of them. Each gets a clear message and a documented exit code
// (README: 1 cannot be done as asked, 2 usage, 3 environment), and nothing is written.
// No user manager is needed: each case is refused before one would be asked.

const BIN = new URL('../../dist/cli/bin.js', import.meta.url).pathname;
const APPS = new URL('../lab-apps', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'aq-edge-'));
const env = {
  XDG_CONFIG_HOME: join(root, 'config'),
  XDG_STATE_HOME: join(root, 'state'),
  XDG_RUNTIME_DIR: join(root, 'run'),
  ARCHY_QUADLET_APPS: APPS,
  // No session bus: any case that reached systemd would fail with exit 3 and say why.
  DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent',
};
mkdirSync(env.XDG_RUNTIME_DIR, { recursive: true });
afterAll(() => rmSync(root, { recursive: true, force: true }));

const long = 'a'.repeat(300);
const hostile = ['../etc', 'web/../../x', 'ünïcødé', long, 'WEB', '-', 'web;rm -rf ~', '$(id)', 'web\ttab', ''];

type Case = [args: string[], exit: number, stderr: RegExp];
const cases: Case[] = [
  [[], 2, /Usage: archy-quadlet/],
  [['frobnicate'], 2, /unknown command 'frobnicate'/],
  [['install'], 2, /missing required argument 'app'/],
  [['uninstall', '--purge'], 2, /missing required argument 'app'/],
  [['start', '--wait'], 2, /missing required argument 'app'/],
  [['install', 'web', 'extra'], 2, /too many arguments for 'install'/],
  [['--wait', 'install', 'web'], 2, /unknown option '--wait'/],
  [['install', '--timeout', 'abc', 'web', '--wait'], 2, /'--timeout <seconds>' argument 'abc' is invalid/],
  [['install', 'web', '--timeout', '-5', '--wait'], 2, /argument '-5' is invalid/],
  [['install', 'web', '--timeout', '99999999', '--wait'], 2, /is invalid/],
  [['reconcile', '--bogus'], 2, /unknown option '--bogus'/],
  [['watch', '--interval', '0'], 2, /'--interval <seconds>' argument '0' is invalid/],
  [['generate'], 2, /missing required argument 'normal'/],
  [['setup', '--bogus'], 2, /unknown option '--bogus'/],
  [['render', '--out'], 2, /option '--out <dir>' argument missing/],
  [['install', 'nosuchapp'], 1, /no app "nosuchapp" in the catalog/],
  ...(['start', 'stop', 'restart', 'uninstall'] as const).map(
    (v): Case => [[v, 'web'], 1, /"web" is not installed \(archy-quadlet install web\)/],
  ),
  [['uninstall', 'web', '--purge'], 1, /"web" is not installed/],
  [['status', 'web'], 1, /"web" is not installed/],
  [
    ['render', '--apps', '/nonexistent', '--out', join(root, 'out')],
    3,
    /no such file or directory, scandir '\/nonexistent'/,
  ],
  [['validate', '--apps', '/etc/passwd'], 3, /not a directory, scandir '\/etc\/passwd'/],
  [['render', '--out', '/proc/archy-x'], 3, /no such file or directory, mkdir '\/proc\/archy-x'/],
  ...hostile.flatMap((name): Case[] => [
    [['install', name], 1, /is not an app id \(lower-case letters, digits and inner hyphens\)/],
    [['stop', name, '--wait'], 1, /is not an app id/],
    [['status', name], 1, /is not an app id/],
    [['validate', name], 1, /is not an app id/],
  ]),
];

async function inProcess(args: string[]) {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (t: string) => void (stdout += t),
    stderr: (t: string) => void (stderr += t),
    env,
    home: root,
    isTty: false,
  };
  return { exitCode: await run(args, io), stdout, stderr };
}

async function asProcess(args: string[]) {
  const r = await execa(process.execPath, [BIN, ...args], { env, reject: false, timeout: 20_000, stdin: 'ignore' });
  return { exitCode: r.exitCode, stdout: String(r.stdout), stderr: String(r.stderr) };
}

async function check(
  r: { exitCode?: number | undefined; stdout: string; stderr: string },
  exit: number,
  stderr: RegExp,
) {
  const out = `${r.stdout}\n${r.stderr}`;
  expect(r.exitCode, out).toBe(exit);
  expect(out).toMatch(stderr);
  expect(out, 'a stack trace').not.toMatch(/^\s+at .+[(:]\d+/m);
  expect(out).not.toMatch(/node:internal|TypeError|ReferenceError/);
  // A 300-character name is shortened in messages, never echoed whole.
  expect(out).not.toContain(long);
  // Nothing was written: no state, no units.
  expect(existsSync(env.XDG_STATE_HOME) ? readdirSync(env.XDG_STATE_HOME) : []).toEqual([]);
  expect(
    existsSync(join(env.XDG_CONFIG_HOME, 'containers')) ? readdirSync(join(env.XDG_CONFIG_HOME, 'containers')) : [],
  ).toEqual([]);
}

describe('the CLI at its edges', () => {
  // '-' as an app name is read by commander as an argument; `--` keeps the rest literal.
  it.each(cases)('archy-quadlet %j → exit %i', async (args, exit, stderr) => {
    await check(await inProcess(args), exit, stderr);
  });

  // Concurrently: every case only reads, and each is a process of its own.
  it.concurrent.each(cases.filter((_, i) => i % 4 === 0))(
    'as a process: archy-quadlet %j → exit %i',
    async (args, exit, stderr) => {
      await check(await asProcess(args), exit, stderr);
    },
  );

  it('says how to reach the user manager when it cannot, without a stack trace', async () => {
    const r = await execa(process.execPath, [BIN, 'status'], {
      env: { ...env, XDG_RUNTIME_DIR: join(root, 'nothing-here') },
      reject: false,
      timeout: 20_000,
      stdin: 'ignore',
    });
    // Only meaningful with something to show; with no apps, status needs no systemd at all.
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toMatch(/no apps installed/);
  });
});
