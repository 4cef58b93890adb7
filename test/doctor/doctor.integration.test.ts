import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree } from '../support/lab-user.js';
import { useLabNode } from '../support/node.js';

// doctor in the lab, against the installed package: on a node set up as its owner would,
// every check passes but those the lab cannot satisfy (cgroup v1; linger without systemd as
// PID 1), which it reports as such. Then each condition is broken for real: the check fails
// with its fix, and passes again once repaired.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

interface Check {
  id: string;
  level: string;
  detail: string;
  fix?: string;
}

async function doctor(envPrefix: string[] = []): Promise<{ exit: number; checks: Record<string, Check> }> {
  const r = await asUser(
    ['env', ...envPrefix, `ARCHY_QUADLET_APPS=${node().appsDir}`, 'archy-quadlet', 'doctor', '--json'],
    { reject: false },
  );
  const doc = JSON.parse(String(r.stdout)) as { checks: Check[] };
  return { exit: r.exitCode ?? -1, checks: Object.fromEntries(doc.checks.map((c) => [c.id, c])) };
}

async function expectBroken(id: string, fix: RegExp, envPrefix: string[] = [], level = 'fail') {
  const { exit, checks } = await doctor(envPrefix);
  expect(checks[id], JSON.stringify(checks[id])).toMatchObject({ level });
  expect(checks[id]!.fix).toMatch(fix);
  expect(exit).toBe(level === 'fail' ? 6 : 5);
}

async function expectRepaired(id: string) {
  const { checks } = await doctor();
  expect(checks[id], JSON.stringify(checks[id])).toMatchObject({ level: 'ok' });
}

describe.runIf(enabled)('doctor in the lab', () => {
  beforeAll(async () => {
    await execa('archy-quadlet', ['setup', '--system', '--apps', node().appsDir]);
    await node().aq(['setup', '--watch']);
    await node().aq(['install', 'web', '--wait']);
    await node().aq(['install', 'secret-app', '--wait']);
  }, 180_000);
  afterAll(async () => {
    if (!enabled) return;
    await node().aq(['setup', '--remove'], { reject: false });
    await execa('archy-quadlet', ['setup', '--system', '--remove'], { reject: false });
  }, 60_000);

  it('passes on a node set up as its owner would, but for what the lab cannot satisfy, said as such', async () => {
    const { exit, checks } = await doctor();
    const notOk = Object.values(checks).filter((c) => c.level !== 'ok');
    expect(notOk.map((c) => [c.id, c.level])).toEqual([
      ['linger', 'n/a'], // PID 1 is not systemd here
      ['cgroups', 'warn'], // this VM is cgroup v1
    ]);
    expect(checks.linger!.detail).toMatch(/not systemd/);
    expect(checks.cgroups!.detail).toMatch(/cgroup v1/);
    expect(exit).toBe(5);
    const human = await asUser(['env', `ARCHY_QUADLET_APPS=${node().appsDir}`, 'archy-quadlet', 'doctor'], {
      reject: false,
    });
    expect(String(human.stdout)).toMatch(/^WARN cgroups: cgroup v1.*\n {5}fix: /m);
  }, 60_000);

  it('podman not found', async () => {
    const bin = '/tmp/aq-doctor-path';
    rmSync(bin, { recursive: true, force: true });
    mkdirSync(bin);
    for (const b of ['node', 'systemctl', 'archy-quadlet']) symlinkSync(`/usr/bin/${b}`, join(bin, b));
    await expectBroken('podman', /apt install podman/, [`PATH=${bin}`]);
    await expectRepaired('podman');
  }, 60_000);

  it('the Quadlet generator missing', async () => {
    await expectBroken('quadlet', /ARCHY_QUADLET_BIN/, ['ARCHY_QUADLET_BIN=/nonexistent/quadlet']);
    await expectRepaired('quadlet');
  }, 60_000);

  it('XDG_RUNTIME_DIR unset, and the user manager out of reach', async () => {
    await expectBroken('runtime-dir', /export XDG_RUNTIME_DIR=\/run\/user\/\d+/, [
      '-u',
      'XDG_RUNTIME_DIR',
      '-u',
      'DBUS_SESSION_BUS_ADDRESS',
    ]);
    const { checks } = await doctor(['-u', 'XDG_RUNTIME_DIR', '-u', 'DBUS_SESSION_BUS_ADDRESS']);
    expect(checks['user-manager']).toMatchObject({ level: 'fail' });
    await expectRepaired('runtime-dir');
    await expectRepaired('user-manager');
  }, 60_000);

  it('a degraded user manager (a failed unit)', async () => {
    await asUser(['systemd-run', '--user', '--unit', 'aq-doctor-fails', '--', 'false'], { reject: false });
    await new Promise((r) => setTimeout(r, 500));
    await expectBroken('user-manager', /explain APP/, [], 'warn');
    await asUser(['systemctl', '--user', 'reset-failed', 'aq-doctor-fails.service']);
    await expectRepaired('user-manager');
  }, 60_000);

  it('no session bus', async () => {
    const bus = `/run/user/${node().user.uid}/bus`;
    renameSync(bus, `${bus}.aside`);
    try {
      await expectBroken('session-bus', /dbus-user-session/, ['-u', 'DBUS_SESSION_BUS_ADDRESS']);
    } finally {
      renameSync(`${bus}.aside`, bus);
    }
    await expectRepaired('session-bus');
  }, 60_000);

  it('linger: enabled is ok; without it, a machine whose PID 1 is not systemd says it cannot apply', async () => {
    const file = `/var/lib/systemd/linger/${node().user.name}`;
    mkdirSync('/var/lib/systemd/linger', { recursive: true });
    writeFileSync(file, '');
    try {
      await expectRepaired('linger');
    } finally {
      rmSync(file);
    }
    const { checks } = await doctor();
    expect(checks.linger).toMatchObject({ level: 'n/a' });
  }, 60_000);

  it('no subordinate ids', async () => {
    const saved = readFileSync('/etc/subuid', 'utf8');
    writeFileSync(
      '/etc/subuid',
      saved
        .split('\n')
        .filter((l) => !l.startsWith(`${node().user.name}:`))
        .join('\n'),
    );
    try {
      await expectBroken('subids', /usermod --add-subuids/);
    } finally {
      writeFileSync('/etc/subuid', saved);
    }
    await expectRepaired('subids');
  }, 60_000);

  it('a published port below ip_unprivileged_port_start', async () => {
    const file = '/proc/sys/net/ipv4/ip_unprivileged_port_start';
    const saved = readFileSync(file, 'utf8').trim();
    writeFileSync(file, '20000');
    try {
      await expectBroken('ports', /ip_unprivileged_port_start=18081/);
    } finally {
      writeFileSync(file, saved);
    }
    await expectRepaired('ports');
  }, 60_000);

  it("a file the generator rejects in the unit directory (someone else's), and a directory not writable", async () => {
    const dir = join(node().user.home, '.config/containers/systemd');
    const bad = join(dir, 'someone-else.container');
    writeFileSync(bad, '[Container]\nImage=docker.io/library/x:1\nthis line is garbage\n');
    chownTree(bad, node().user);
    try {
      const { checks } = await doctor();
      expect(checks['unit-dir']).toMatchObject({ level: 'fail' });
      expect(checks['unit-dir']!.fix).toContain(bad);
    } finally {
      rmSync(bad);
    }
    await expectRepaired('unit-dir');
    chmodSync(dir, 0o555);
    try {
      await expectBroken('unit-dir', /chown/);
    } finally {
      chmodSync(dir, 0o755);
    }
    await expectRepaired('unit-dir');
  }, 60_000);

  it('the boot hook, the timer and the watcher missing', async () => {
    await execa('archy-quadlet', ['setup', '--system', '--remove']);
    await expectBroken('boot-hook', /sudo archy-quadlet setup --system/, [], 'warn');
    await execa('archy-quadlet', ['setup', '--system', '--apps', node().appsDir]);
    await expectRepaired('boot-hook');
    await node().aq(['setup', '--remove']);
    await expectBroken('reconcile.timer', /^archy-quadlet setup$/, [], 'warn');
    const { checks } = await doctor();
    expect(checks['watch.service']).toMatchObject({ level: 'ok', detail: expect.stringMatching(/optional/) });
    await node().aq(['setup', '--watch']);
    await expectRepaired('reconcile.timer');
    await expectRepaired('watch.service');
  }, 120_000);

  it('an unreadable state file', async () => {
    const file = join(node().stateDir, 'state.json');
    const saved = readFileSync(file, 'utf8');
    // The watcher would refuse it too; it changes nothing, and the file is put back at once.
    writeFileSync(file, '{ not json');
    try {
      await expectBroken('state', /state.json.bak/);
    } finally {
      writeFileSync(file, saved);
    }
    await expectRepaired('state');
  }, 60_000);

  it('a secret of an installed app missing', async () => {
    await node().aq(['setup', '--remove']); // nothing may recreate it behind the test's back
    await asUser(['podman', 'secret', 'rm', 'secret-app-token']);
    await expectBroken('secrets', /archy-quadlet restart secret-app/);
    await node().aq(['restart', 'secret-app', '--wait', '--timeout', '60']);
    await expectRepaired('secrets');
    await node().aq(['setup', '--watch']);
    expect(existsSync(join(node().user.home, '.config/systemd/user/archy-quadlet-watch.service'))).toBe(true);
  }, 60_000);
});
