import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { LAB_DIR, requireLab } from '../support/lab.js';
import { asUser } from '../support/lab-user.js';
import { http, labNode, waitHttp } from '../support/node.js';

// scripts/lab-up, which CI runs before the tests: a machine restarted without a boot (every
// process of the lab user killed, /run and the home directory kept, a test run interrupted
// with its apps and boot hook installed) comes back as a clean node, and a running lab is
// left alone.

const LAB_UP = fileURLToPath(new URL('../../scripts/lab-up', import.meta.url));
const HOOK = '/etc/systemd/user-generators/archy-quadlet';
const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI) throw new Error('lab-up tests need root in CI');
const enabled = isRoot && requireLab('user-manager');
if (!isRoot && !process.env.CI) console.warn('SKIPPED (not in CI): scripts/lab-up needs root');

const managerPid = () => readFileSync('/var/lib/archy-lab/user-manager.pid', 'utf8').trim();
const managerState = async () =>
  String((await asUser(['systemctl', '--user', 'is-system-running'], { reject: false })).stdout).trim();

describe.runIf(enabled)('scripts/lab-up', () => {
  it('leaves a running lab alone', async () => {
    const before = managerPid();
    await execa(LAB_UP, [`${LAB_DIR}/up`], { stdin: 'ignore' });
    expect(managerPid()).toBe(before);
    expect(await managerState()).toBe('running');
  }, 60_000);

  it('brings back a clean node after a restart without a boot', async () => {
    const node = await labNode();
    try {
      await node.aq(['install', 'web', '--wait']);
      expect(await waitHttp(18081)).toBe('ok\n');
      await execa('archy-quadlet', ['setup', '--system', '--apps', node.appsDir]);
      expect(existsSync(HOOK)).toBe(true);
      const pid = managerPid();

      // The restart: processes gone, Podman's runtime state in /run/user/<uid> kept.
      await execa('pkill', ['-KILL', '-u', node.user.name], { reject: false });
      expect(existsSync(`/run/user/${node.user.uid}/libpod/tmp/alive`)).toBe(true);

      const up = await execa(LAB_UP, [`${LAB_DIR}/up`], { stdin: 'ignore', all: true });
      expect(up.all).toMatch(/starting from a clean boot/);
      expect(up.all).not.toMatch(/retrying/);
      expect(managerPid()).not.toBe(pid);
      expect(await managerState()).toBe('running');
      // Podman works again (a stale pause.pid made every command fail), on a node without
      // the interrupted run's apps or its boot hook.
      expect((await asUser(['podman', 'run', '--rm', 'localhost/busybox:latest', 'echo', 'hi'])).stdout).toBe('hi');
      expect(existsSync(node.unitRoot)).toBe(false);
      expect(existsSync(HOOK)).toBe(false);
      expect(await http(18081)).toBeUndefined();
    } finally {
      await execa('archy-quadlet', ['setup', '--system', '--remove'], { reject: false });
      await node.cleanup();
    }
  }, 240_000);
});
