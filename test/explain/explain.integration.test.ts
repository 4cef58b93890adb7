import { describe, expect, it } from 'vitest';
import { requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { useLabNode } from '../support/node.js';

// explain, on failures produced for real in the lab (a bad image reference, a missing
// secret, a health check that never passes, a stop that runs into its timeout), and the
// progress `--wait` shows.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

interface Finding {
  unit: string;
  signature: string;
  cause: string;
  fix: string;
}
async function explain(app: string): Promise<{
  findings: Finding[];
  services: Record<string, string>;
  units: Array<{ name: string }>;
  manifest: string;
}> {
  return JSON.parse((await node().aq(['explain', app, '--json'])).stdout);
}

describe.runIf(enabled)('explain in the lab', () => {
  it('a bad image reference: the image is not there and is never pulled (exit 125)', async () => {
    await node().aq(['install', 'badimage'], { reject: false });
    await waitFor(
      'badimage to have failed once',
      async () => {
        const s = await node().status('badimage');
        return s && (s.units[0]!.restarts > 0 || s.state === 'failed') ? true : undefined;
      },
      60_000,
      500,
    );
    const x = await explain('badimage');
    expect(x.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          unit: 'badimage.service',
          signature: 'image-missing',
          fix: expect.stringContaining('podman pull localhost/does-not-exist:1.0'),
        }),
        expect.objectContaining({ unit: 'badimage.service', signature: 'exit-125' }),
      ]),
    );
    // The rest of the picture: the rendered unit and what the generator made of it.
    expect(x.units.map((u) => u.name)).toEqual(['badimage.container']);
    expect(x.services['badimage.service']).toMatch(/^ExecStart=.*podman run .*localhost\/does-not-exist:1\.0/m);
    const human = await node().aq(['explain', 'badimage']);
    expect(human.stdout).toMatch(/-- rendered units\n--- badimage\.container ---/);
    expect(human.stdout).toMatch(/-- what the Quadlet generator makes of them\n--- badimage\.service ---/);
    expect(human.stdout).toMatch(
      /^badimage\.service: \[image-missing\] .*\n {2}fix: podman pull localhost\/does-not-exist:1\.0/m,
    );
    await node().aq(['uninstall', 'badimage', '--wait', '--timeout', '60']);
  }, 120_000);

  it('a missing secret ("no such secret"), and the value is never shown', async () => {
    await node().aq(['install', 'secret-app', '--wait', '--timeout', '60']);
    const value = String(
      (await asUser(['podman', 'secret', 'inspect', '--showsecret', '--format', '{{.SecretData}}', 'secret-app-token']))
        .stdout,
    ).trim();
    const ok = await node().aq(['explain', 'secret-app']);
    expect(ok.stdout).toMatch(/-- diagnosis\nnothing wrong found/);
    expect(ok.stdout).not.toContain(value);
    await asUser(['podman', 'secret', 'rm', 'secret-app-token']);
    await asUser(['systemctl', '--user', 'restart', '--no-block', 'secret-app.service']);
    await waitFor(
      'secret-app to fail',
      async () => ((await node().status('secret-app'))?.state !== 'running' ? true : undefined),
      30_000,
      300,
    );
    const x = await explain('secret-app');
    expect(x.findings).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          signature: 'no-such-secret',
          cause: expect.stringContaining('"secret-app-token"'),
          fix: expect.stringContaining('archy-quadlet reconcile'),
        }),
      ]),
    );
    await node().aq(['reconcile']); // the fix it gave: the secret is created again
    await waitFor(
      'secret-app back',
      async () => ((await node().status('secret-app'))?.state === 'running' ? true : undefined),
      60_000,
      500,
    );
    expect((await explain('secret-app')).findings).toEqual([]);
  }, 150_000);

  it('a health check that never passes, while --wait shows it and gives up with where it was', async () => {
    const r = await node().aq(['install', 'slowstart', '--wait', '--timeout', '8'], { reject: false });
    expect(r.exitCode).toBe(4);
    expect(r.stderr).toMatch(/^… slowstart: waiting for health slowstart\.service/m);
    expect(r.stderr).toMatch(
      /gave up after 8 s: still waiting for health \(slowstart\.service, health: (starting|unhealthy)\); archy-quadlet explain slowstart says why/,
    );
    const x = await explain('slowstart');
    expect(x.findings).toEqual([
      expect.objectContaining({
        unit: 'slowstart.service',
        signature: 'health',
        cause: expect.stringMatching(/health check has not passed yet/),
        fix: expect.stringContaining('podman logs slowstart'),
      }),
    ]);
    const json = await node().aq(['start', 'slowstart', '--wait', '--timeout', '3', '--json'], { reject: false });
    const events = json.stderr
      .split('\n')
      .filter((l) => l.startsWith('{"event"'))
      .map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({
      event: 'progress',
      app: 'slowstart',
      phase: 'waiting for health',
      unit: 'slowstart.service',
    });
    // On a terminal: one line, rewritten in place, with the time so far.
    const tty = await asUser(
      [
        'script',
        '-qec',
        `env ARCHY_QUADLET_APPS=${node().appsDir} archy-quadlet start slowstart --wait --timeout 3`,
        '/dev/null',
      ],
      { reject: false },
    );
    expect(String(tty.stdout)).toMatch(
      /\r\x1b\[K… slowstart: waiting for health slowstart\.service \(health: \w+\) \d+ s/,
    );
    expect(String(tty.stdout)).toMatch(/gave up after 3 s/);
    await node().aq(['uninstall', 'slowstart', '--wait', '--timeout', '60']);
  }, 120_000);

  it('a stop that ran into its stop timeout (PID 1 ignores SIGTERM: killed, exit 137)', async () => {
    await node().aq(['install', 'slowstop', '--wait', '--timeout', '60']);
    await node().aq(['stop', 'slowstop', '--wait', '--timeout', '60']);
    const x = await explain('slowstop');
    expect(x.findings).toEqual([
      expect.objectContaining({
        signature: 'stop-timeout',
        cause: expect.stringMatching(/SIGKILL \(exit 137\).*stop timeout \(5 s\)/),
        fix: expect.stringMatching(/SIGTERM/),
      }),
    ]);
    expect((await node().status('slowstop'))?.units[0]).toMatchObject({ state: 'stopped', result: 'success' }); // and not a failure
  }, 90_000);
});
