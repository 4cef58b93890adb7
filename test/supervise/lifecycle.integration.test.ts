import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { containerId, containers, http, reboot, waitClosed, waitHttp, useLabNode } from '../support/node.js';

// The supervisor against the lab's real systemd user manager and rootless Podman, through
// the installed package, as a user would drive it. Ports: test/lab-apps/*/manifest.yml.
// What breaks on purpose (kill -9, hand edits, stop while starting...) is in test/chaos.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

const waitState = (app: string, state: string, timeoutMs = 60_000) =>
  waitFor(
    `${app} to be ${state}`,
    async () => ((await node().status(app))?.state === state ? true : undefined),
    timeoutMs,
    300,
  );

describe.runIf(enabled)('supervisor lifecycle in the lab', () => {
  it('install: the app becomes reachable over HTTP, status says running', async () => {
    const r = await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    expect(r.stdout).toMatch(/^web: install recorded; \d+ step\(s\) issued; now running$/m);
    expect(await waitHttp(18081)).toBe('ok\n');
    expect(await node().status('web')).toMatchObject({ desired: 'running', state: 'running', converged: true });
  }, 90_000);

  it('stop: unit inactive (not failed), container gone, port released; start brings it back', async () => {
    await node().aq(['stop', 'web', '--wait', '--timeout', '60']);
    await waitClosed(18081);
    const s = await node().status('web');
    expect(s).toMatchObject({ desired: 'stopped', state: 'stopped', converged: true });
    expect(s!.units[0]).toMatchObject({ activeState: 'inactive', result: 'success' });
    expect(await containers()).not.toContain('web');
    await node().aq(['start', 'web', '--wait', '--timeout', '60']);
    expect(await waitHttp(18081)).toBe('ok\n');
  }, 120_000);

  it('restart: a new container answers', async () => {
    const before = await containerId('web');
    await node().aq(['restart', 'web', '--wait', '--timeout', '60']);
    await waitHttp(18081);
    const after = await containerId('web');
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
  }, 90_000);

  it('a killed container comes back (systemd restarts it)', async () => {
    const before = await containerId('web');
    await asUser(['podman', 'kill', 'web']);
    await waitFor(
      'a new web container',
      async () => {
        const id = await containerId('web');
        return id && id !== before && (await http(18081)) === 'ok\n' ? id : undefined;
      },
      60_000,
    );
  }, 90_000);

  it('a stopped app stays stopped across passes, and its unit is not wanted at boot', async () => {
    await node().aq(['install', 'slowstop', '--wait', '--timeout', '60']);
    await node().aq(['stop', 'slowstop', '--wait', '--timeout', '60']);
    await node().aq(['reconcile']);
    await node().aq(['reconcile']);
    expect((await node().status('slowstop'))?.state).toBe('stopped');
    expect(await http(18084)).toBeUndefined();
    const unit = readFileSync(join(node().unitRoot, 'slowstop/slowstop.container'), 'utf8');
    expect(unit).not.toContain('WantedBy=default.target'); // and so it does not start at boot
  }, 120_000);

  it('stop of a PID 1 that ignores SIGTERM returns at once and reports "stopping" while it lasts', async () => {
    await node().aq(['start', 'slowstop', '--wait', '--timeout', '60']);
    const r = await node().aq(['stop', 'slowstop']);
    expect(r.stdout).toMatch(/now stopping \(wanted: stopped\)/);
    expect((await node().status('slowstop'))?.state).toBe('stopping');
    await waitState('slowstop', 'stopped');
    expect((await node().status('slowstop'))!.units[0]).toMatchObject({ activeState: 'inactive', result: 'success' });
  }, 90_000);

  it('a three-container stack: private network, aliases, health-gated start in dependsOn order', async () => {
    await node().aq(['install', 'stack', '--wait', '--timeout', '90']);
    expect(await waitHttp(18082, '/cgi-bin/index')).toBe('web-ok\napi-ok\ndb-ok\n');
    const s = await node().status('stack');
    expect(s!.units.map((u) => u.unit)).toEqual([
      'stack-network.service',
      'stack-db.service',
      'stack-api.service',
      'stack-web.service',
    ]);
  }, 120_000);

  it('a companion built locally from a Containerfile (.build unit)', async () => {
    await node().aq(['install', 'companion', '--wait', '--timeout', '120']);
    expect(await waitHttp(18083)).toBe('companion-ok\n');
    expect((await node().status('companion'))!.units.find((u) => u.unit === 'companion-build.service')).toMatchObject({
      activeState: 'active',
      subState: 'exited',
    });
  }, 150_000);

  it('a generated secret reaches the container, stays the same across restart, and is never printed', async () => {
    const out = await node().aq(['install', 'secret-app', '--wait', '--timeout', '60', '--json']);
    const served = await waitHttp(18085);
    const [env, file] = served.trim().split('\n');
    expect(env).toBe(file);
    const secret = String(
      (await asUser(['podman', 'secret', 'inspect', '--showsecret', '--format', '{{.SecretData}}', 'secret-app-token']))
        .stdout,
    ).trim();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{40}$/);
    await node().aq(['restart', 'secret-app', '--wait', '--timeout', '60']);
    expect(await waitHttp(18085)).toBe(served);
    const status = await node().aq(['status', '--json']);
    for (const text of [out.stdout, out.stderr, status.stdout, status.stderr]) expect(text).not.toContain(secret);
  }, 120_000);

  it('uninstall keeps volumes and secrets; reinstall finds the data; --purge removes them and says so', async () => {
    await node().aq(['install', 'data', '--wait', '--timeout', '60']);
    const log1 = await waitHttp(18086, '/log');
    await node().aq(['uninstall', 'data', '--wait', '--timeout', '60']);
    expect(existsSync(join(node().unitRoot, 'data'))).toBe(false);
    expect(await containers()).not.toContain('data');
    expect(String((await asUser(['podman', 'volume', 'ls', '--format', '{{.Name}}'])).stdout)).toContain('data-store');
    expect(await node().status('data')).toBeUndefined();
    await node().aq(['install', 'data', '--wait', '--timeout', '60']);
    const log2 = await waitHttp(18086, '/log');
    expect(log2.startsWith(log1)).toBe(true);
    expect(log2.split('\n').length).toBe(log1.split('\n').length + 1);
    const purge = await node().aq(['uninstall', 'data', '--purge', '--wait', '--timeout', '60']);
    expect(purge.stdout).toMatch(/removed volume data-store/);
    expect(String((await asUser(['podman', 'volume', 'ls', '--format', '{{.Name}}'])).stdout)).not.toContain(
      'data-store',
    );
  }, 180_000);

  it('reboot: running apps come back, stopped apps stay stopped', async () => {
    await node().aq(['start', 'web', '--wait', '--timeout', '60']);
    await node().aq(['stop', 'slowstop', '--wait', '--timeout', '60']);
    await reboot();
    expect(await waitHttp(18081, '/', 90_000)).toBe('ok\n');
    expect(await waitHttp(18082, '/cgi-bin/index', 90_000)).toBe('web-ok\napi-ok\ndb-ok\n');
    expect(await http(18084)).toBeUndefined();
    expect((await node().status('slowstop'))?.state).toBe('stopped');
    expect((await node().status('web'))?.state).toBe('running');
  }, 300_000);
});
