import { describe, expect } from 'vitest';
import { execa } from 'execa';
import { AS_USER, requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { containerId, containers, http, useLabNode, waitHttp } from '../support/node.js';
import { chaosIt } from './chaos.js';

// Chaos in the containers: a crash loop, a stale container in the way, a stop while an
// app is still starting.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

async function mainPid(container: string): Promise<number> {
  const r = await asUser(['podman', 'inspect', '--format', '{{.State.Pid}}', container], { reject: false });
  return r.exitCode === 0 ? Number(String(r.stdout).trim()) : 0;
}

async function nRestarts(unit: string): Promise<number> {
  const r = await asUser(['systemctl', '--user', 'show', unit, '-p', 'NRestarts', '--value']);
  return Number(String(r.stdout).trim()) || 0;
}

async function failedUnits(): Promise<string> {
  return String(
    (await asUser(['systemctl', '--user', 'list-units', '--failed', '--plain', '--no-legend'])).stdout,
  ).trim();
}

describe.runIf(enabled)('chaos: containers', () => {
  chaosIt(
    2,
    "kill -9 a container's main process, repeatedly: crash loop, backoff, recovery",
    120_000,
    async (run) => {
      // Steady state: web answering, no backoff pending.
      await node().aq(['install', 'web', '--wait', '--timeout', '60']);
      run.broke();
      // Kill web's PID 1 whenever it is up, while passes run every 2 s (as the timer would,
      // faster). systemd restarts it until its start limit; then the supervisor restarts it,
      // backing off more each time: it must be seen waiting rather than hammering.
      let killing = true;
      let kills = 0;
      const killer = (async () => {
        while (killing) {
          const pid = await mainPid('web');
          if (pid > 0 && (await asUser(['kill', '-9', String(pid)], { reject: false })).exitCode === 0) kills++;
          await new Promise((r) => setTimeout(r, 300));
        }
      })();
      const passes: Array<{
        applied: Array<{ kind: string; failures?: number; unit?: string }>;
        pending: Array<{ reason: string }>;
      }> = [];
      try {
        await waitFor(
          'a pass that backs off instead of starting web',
          async () => {
            const r = await node().aq(['reconcile', '--json']);
            const pass = JSON.parse(r.stdout);
            passes.push(pass);
            const backingOff = pass.pending.some((s: { reason: string }) =>
              /backing off after \d+ failure/.test(s.reason),
            );
            await new Promise((res) => setTimeout(res, 2000));
            return backingOff ? true : undefined;
          },
          240_000,
          0,
        );
      } finally {
        killing = false;
        await killer;
      }
      const backoffs = passes.flatMap((p) => p.applied.filter((s) => s.kind === 'setBackoff'));
      expect(backoffs.map((s) => s.failures)).toEqual(backoffs.map((_, i) => i + 1)); // 1, 2, 3...: growing delays
      const starts = passes.flatMap((p) => p.applied.filter((s) => s.kind === 'start'));
      expect(starts.length, 'one start per failure, no more').toBe(backoffs.length);
      expect(kills).toBeGreaterThan(5);
      // The killing stopped: once the backoff ran out, a pass starts it and it stays up.
      await waitFor(
        'web to be back',
        async () => {
          await node().aq(['reconcile']);
          return (await http(18081)) === 'ok\n' ? true : undefined;
        },
        120_000,
        2000,
      );
      run.recovered();
      // httpd answers before its first health check passes (Notify=healthy): `starting` for up
      // to an interval more, then `running`.
      await waitFor(
        'web to be running',
        async () => ((await node().status('web'))?.state === 'running' ? true : undefined),
        30_000,
        500,
      );
    },
    600_000,
  );

  chaosIt(7, 'a stale container with the same name, left from an older run', 60_000, async (run) => {
    // Steady state: web not installed. Left behind: a container named web, with our labels,
    // running and holding web's port (as after a crash that skipped ExecStopPost).
    await node().aq(['uninstall', 'web', '--wait', '--timeout', '60']);
    const stale = [
      '--name',
      'web',
      '--label',
      'io.archipelago.managed-by=archy-quadlet',
      '--label',
      'io.archipelago.app=web',
      'localhost/busybox:latest',
    ];
    await asUser([
      'podman',
      'run',
      '-d',
      '-p',
      '127.0.0.1:18081:8080',
      ...stale,
      'httpd',
      '-f',
      '-p',
      '8080',
      '-h',
      '/www',
    ]);
    const staleId = await containerId('web');
    // systemd keeps a unit's NRestarts for as long as the unit stays loaded, and right after the
    // crash loop of scenario 2 it may still be loaded here: what counts is that this install
    // added no restart (a failed first start would be retried by Restart=always and add one).
    const restartsBefore = await nRestarts('web.service');
    run.broke();
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    expect(await waitHttp(18081)).toBe('ok\n');
    run.recovered();
    expect(await containerId('web')).not.toBe(staleId); // replaced, never a failed start
    const s = await node().status('web');
    expect(s?.units[0]).toMatchObject({ state: 'running' });
    expect(s?.units[0]?.restarts, 'no restart during the install').toBe(restartsBefore);
    // And a stale, stopped one in the way of a start.
    await node().aq(['stop', 'web', '--wait', '--timeout', '60']);
    await asUser(['podman', 'create', ...stale, 'sleep', '1000']);
    run.broke();
    await node().aq(['start', 'web', '--wait', '--timeout', '60']);
    expect(await waitHttp(18081)).toBe('ok\n');
    run.recovered();
    expect(await failedUnits()).toBe('');
  });

  chaosIt(11, 'stop, then uninstall, an app still starting (health check not passed yet)', 20_000, async (run) => {
    // slowstart never becomes healthy (its unit stays `activating`), and its PID 1 ignores
    // SIGTERM: stop timeout 3 s. A plain `systemctl stop` would wait for TimeoutStopSec.
    await node().aq(['install', 'slowstart']);
    await waitFor('slowstart to be starting', async () =>
      (await node().status('slowstart'))?.state === 'starting' ? true : undefined,
    );
    run.broke();
    const r = await node().aq(['stop', 'slowstart']);
    expect(r.stdout).toMatch(/^slowstart: stop recorded; \d+ step\(s\) issued/m);
    await waitFor(
      'slowstart to be stopped',
      async () => ((await node().status('slowstart'))?.state === 'stopped' ? true : undefined),
      30_000,
      250,
    );
    run.recovered();
    expect((await node().status('slowstart'))!.units[0]).toMatchObject({ activeState: 'inactive', result: 'success' });
    expect(await containers()).not.toContain('slowstart');

    await node().aq(['start', 'slowstart']);
    await waitFor('slowstart to be starting', async () =>
      (await node().status('slowstart'))?.state === 'starting' ? true : undefined,
    );
    run.broke();
    await node().aq(['uninstall', 'slowstart', '--wait', '--timeout', '60']);
    run.recovered();
    expect(await node().status('slowstart')).toBeUndefined();
    expect(await containers()).not.toContain('slowstart');
    const failed = await execa(AS_USER, ['systemctl', '--user', 'list-units', '--failed', '--plain', '--no-legend'], {
      cwd: '/',
    });
    expect(String(failed.stdout)).not.toMatch(/slowstart/);
  });
});
