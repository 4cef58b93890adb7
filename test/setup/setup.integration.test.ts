import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree } from '../support/lab-user.js';
import { useLabNode, waitHttp } from '../support/node.js';

// setup for the current user, in the lab: what it installs and says, idempotent, undone by
// --remove (the apps left as they are), and never overwriting a file it did not write.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

interface Action {
  what: string;
  done: boolean;
  hint?: string;
}
const setup = async (...args: string[]) =>
  JSON.parse((await node().aq(['setup', ...args, '--json'])).stdout).actions as Action[];
const unitDir = () => join(node().user.home, '.config/systemd/user');
const active = async (unit: string) =>
  String((await asUser(['systemctl', '--user', 'is-active', unit], { reject: false })).stdout).trim();

afterAll(async () => {
  if (enabled) await execa('archy-quadlet', ['setup', '--system', '--remove'], { reject: false });
}, 60_000);

describe.runIf(enabled)('setup in the lab', () => {
  it('installs and starts the timer and the watcher, says what it did and what needs root or linger', async () => {
    await node().aq(['install', 'web', '--wait']);
    const first = await setup('--watch');
    expect(first.filter((a) => a.what.startsWith('wrote ')).map((a) => a.what.split('/').pop())).toEqual([
      'archy-quadlet-reconcile.service',
      'archy-quadlet-reconcile.timer',
      'archy-quadlet-watch.service',
    ]);
    expect(first).toContainEqual({
      what: 'enabled and started archy-quadlet-reconcile.timer, archy-quadlet-watch.service',
      done: true,
    });
    expect(await active('archy-quadlet-reconcile.timer')).toBe('active');
    expect(await active('archy-quadlet-watch.service')).toBe('active');
    // Linger: enabled, or not, with how (the lab has no logind); the boot hook needs root.
    const linger = first.find((a) => a.what.startsWith('linger'))!;
    expect(linger.done || /loginctl enable-linger archy/.test(linger.hint ?? '')).toBe(true);
    expect(first.find((a) => a.what.includes('generator hook'))).toMatchObject({
      done: false,
      hint: 'sudo archy-quadlet setup --system',
    });
    await execa('archy-quadlet', ['setup', '--system', '--apps', node().appsDir]);
    expect((await setup('--watch')).find((a) => a.what.includes('generator hook'))).toMatchObject({ done: true });
  }, 120_000);

  it('is idempotent: a second run writes nothing', async () => {
    const again = await setup('--watch');
    expect(again.filter((a) => a.what.startsWith('wrote '))).toEqual([]);
    expect(again.filter((a) => a.what.startsWith('unchanged '))).toHaveLength(3);
  }, 60_000);

  it('--remove undoes it and leaves the apps as they are', async () => {
    const removed = await setup('--remove');
    expect(removed.filter((a) => a.what.startsWith('removed ')).length).toBe(3);
    for (const u of ['archy-quadlet-reconcile.service', 'archy-quadlet-reconcile.timer', 'archy-quadlet-watch.service'])
      expect(existsSync(join(unitDir(), u))).toBe(false);
    expect(await active('archy-quadlet-reconcile.timer')).not.toBe('active');
    expect(await waitHttp(18081)).toBe('ok\n');
    expect((await node().status('web'))?.state).toBe('running');
  }, 60_000);

  it('never overwrites a unit file it did not write', async () => {
    const mine = join(unitDir(), 'archy-quadlet-watch.service');
    writeFileSync(mine, '[Service]\nExecStart=/bin/true\n');
    chownTree(mine, node().user);
    try {
      const r = await node().aq(['setup', '--watch'], { reject: false });
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toContain(`${mine} exists and was not written by archy-quadlet setup: left alone`);
      expect(readFileSync(mine, 'utf8')).toBe('[Service]\nExecStart=/bin/true\n');
    } finally {
      rmSync(mine);
      await node().aq(['setup', '--remove'], { reject: false });
    }
  }, 60_000);
});
