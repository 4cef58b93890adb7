import { describe, expect, it } from 'vitest';
import { requireLab } from '../support/lab.js';
import { asUser } from '../support/lab-user.js';
import { containerId, useLabNode, waitHttp } from '../support/node.js';

// Something in the way of a start, in the lab: a container of ours left from an older run
// (cleared first: stopped within the app's own stop timeout, removed, then the start; never
// a failed start), a container of that name that is not ours (never touched: the unit waits
// and says why), and the app's host port held by something else (the start waits for it).

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);
const busybox = 'localhost/busybox:latest';
const nRestarts = async (unit: string) =>
  Number(String((await asUser(['systemctl', '--user', 'show', '-P', 'NRestarts', unit])).stdout).trim());
const httpd = ['httpd', '-f', '-p', '8080', '-h', '/www'];

describe.runIf(enabled)('a start with something in its way', () => {
  it('clears a container of ours left from an older run, then starts: no failed start', async () => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    await node().aq(['stop', 'web', '--wait', '--timeout', '60']);
    const before = await nRestarts('web.service');
    // As after a crash that skipped the unit's cleanup: running, holding the port. Its PID 1
    // ignores SIGTERM and its own stop timeout is Podman's 10 s; the app's is 2 s.
    await asUser([
      'podman',
      'run',
      '-d',
      '--name',
      'web',
      '--label',
      'io.archipelago.managed-by=archy-quadlet',
      '--label',
      'io.archipelago.app=web',
      '-p',
      '127.0.0.1:18081:8080',
      busybox,
      ...httpd,
    ]);
    const stale = await containerId('web');
    const t0 = Date.now();
    const r = await node().aq(['start', 'web', '--wait', '--timeout', '60']);
    expect(r.stderr).toMatch(
      /"step":"clearStaleContainer","reason":"a container of an older run \(running\) holds the name web: stopping it"/,
    );
    expect(r.stderr).toMatch(
      /"step":"clearStaleContainer","reason":"a container of an older run \(exited\) holds the name web: removing it"/,
    );
    // Stopped with the app's stop timeout, not the stale container's own 10 s.
    expect(Date.now() - t0).toBeLessThan(9_000);
    expect(await waitHttp(18081)).toBe('ok\n');
    expect(await containerId('web')).not.toBe(stale);
    expect(await nRestarts('web.service')).toBe(before);
  }, 120_000);

  it('never touches a container of that name that is not ours: the unit waits and the verb says why', async () => {
    await node().aq(['stop', 'web', '--wait', '--timeout', '60']);
    await asUser(['podman', 'create', '--name', 'web', busybox, 'sleep', '1000']);
    const theirs = await containerId('web');
    try {
      const r = await node().aq(['start', 'web']);
      expect(r.stdout).toMatch(
        /in progress: a container named web is in the way \(archy-quadlet does not own it\): remove or rename it/,
      );
      await node().aq(['reconcile']);
      expect(await containerId('web')).toBe(theirs);
      expect((await node().status('web'))?.state).toBe('stopped');
    } finally {
      await asUser(['podman', 'rm', '-f', '-t', '0', 'web'], { reject: false });
    }
    await node().aq(['reconcile']);
    expect(await waitHttp(18081)).toBe('ok\n');
  }, 120_000);

  it('waits while its host port is held by something else, and starts once it is free', async () => {
    await node().aq(['stop', 'web', '--wait', '--timeout', '60']);
    const before = await nRestarts('web.service');
    await asUser(['podman', 'run', '-d', '--name', 'squatter', '-p', '127.0.0.1:18081:8080', busybox, ...httpd]);
    try {
      const r = await node().aq(['start', 'web']);
      expect(r.stdout).toMatch(/in progress: host port 127\.0\.0\.1:18081\/tcp in use: starting once it is free/);
      await node().aq(['reconcile']);
      expect((await node().status('web'))?.units[0]).toMatchObject({ activeState: 'inactive' });
    } finally {
      await asUser(['podman', 'rm', '-f', '-t', '0', 'squatter'], { reject: false });
    }
    await node().aq(['reconcile']);
    expect(await waitHttp(18081)).toBe('ok\n');
    expect(await nRestarts('web.service')).toBe(before);
  }, 120_000);
});
