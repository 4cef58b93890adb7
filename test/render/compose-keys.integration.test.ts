import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { renderApp } from '../../src/render/render-app.js';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree, labUser, mkdirOwned, waitFor, type LabUser } from '../support/lab-user.js';

// init, shmSize, extraHosts, ulimits and a container's own network: host through the real generator, systemd and Podman, as
// the process in the container sees them. init: an orphan that exits is reaped (no zombie).

const enabled = requireLab('user-manager');
let user: LabUser;
let unitDir: string;
let work: string;

beforeAll(() => {
  if (!enabled) return;
  user = labUser();
  unitDir = join(user.home, '.config/containers/systemd/archy-quadlet-compose-test');
  work = mkdtempSync('/tmp/aq-compose-');
  chownTree(work, user);
});

const started: string[] = [];

afterAll(async () => {
  if (!enabled) return;
  await asUser(['systemctl', '--user', 'stop', 'composekeys.service', ...started], { reject: false });
  rmSync(unitDir, { recursive: true, force: true });
  await asUser(['systemctl', '--user', 'daemon-reload']);
  rmSync(work, { recursive: true, force: true });
});

const SCRIPT = [
  // An orphan: its parent exits at once, it exits a moment later. PID 1 must reap it.
  "sh -c 'sleep 1 & exit 0'",
  'sleep 3',
  'cat /proc/1/comm > /out/pid1',
  // The state of every process (the third field of /proc/<pid>/stat): Z is a zombie.
  "cat /proc/[0-9]*/stat | awk '{print $3}' | grep -c Z > /out/zombies || true",
  "df -k /dev/shm | awk 'NR==2 {print $2}' > /out/shm",
  'grep -E "bitcoind.example|gateway.example" /etc/hosts | sort > /out/hosts',
  'echo "$(ulimit -Sn) $(ulimit -Hn)" > /out/nofile',
  'touch /out/done',
  'exec sleep 600',
].join('; ');

/** Starts a one-container manifest as a unit, waits for /out/done, returns a reader of /out. */
async function run(id: string, container: Record<string, unknown>): Promise<(file: string) => string> {
  const out = join(work, id);
  mkdirOwned(out, user);
  const manifest = {
    schemaVersion: 1,
    id,
    name: id,
    version: '1',
    containers: [
      {
        name: id,
        image: 'localhost/busybox:latest',
        pull: 'never',
        binds: [{ source: out, target: '/out' }],
        restart: 'no',
        stopSignal: 'SIGKILL',
        stopTimeout: 1,
        ...container,
      },
    ],
  };
  const r = createManifestValidator().validate(stringify(manifest), `${id}.yml`, id);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  mkdirOwned(join(unitDir, id), user);
  for (const f of renderApp(r.app, { startAtBoot: false, source: `${id}.yml`, appDir: work, dataDir: work }))
    writeFileSync(join(unitDir, id, f.name), f.content);
  chownTree(unitDir, user);
  await asUser(['systemctl', '--user', 'daemon-reload']);
  await asUser(['systemctl', '--user', 'start', `${id}.service`]);
  started.push(`${id}.service`);
  await waitFor(
    `${id} to write what it sees`,
    async () => {
      try {
        readFileSync(join(out, 'done'));
        return true;
      } catch {
        return undefined;
      }
    },
    60_000,
    250,
  );
  return (f: string) => readFileSync(join(out, f), 'utf8');
}

describe.runIf(enabled)('compose keys in a real container', () => {
  it('a multi-line script, and values with line breaks and tabs, arrive exactly', async () => {
    const value = 'first line\n\tindented "quoted" $HOME %n\nlast line';
    const script = [
      "# a script of several lines, as mempool's start script",
      'set -e',
      'printf "%s" "$VALUE" > /out/env',
      'printf "%s" "$1" > /out/arg',
      'if [ -n "$VALUE" ]; then',
      '\ttouch /out/done',
      'fi',
      'exec sleep 600',
    ].join('\n');
    const read = await run('multiline', {
      command: ['sh', '-c', script, 'sh', value],
      environment: { VALUE: value },
      healthcheck: { command: 'test -f /out/done &&\n  test -f /out/env', interval: '1h', readiness: false },
    });
    expect(read('env')).toBe(value);
    expect(read('arg')).toBe(value);
    const inspect = JSON.parse(String((await asUser(['podman', 'inspect', 'multiline'])).stdout))[0];
    expect(inspect.Config.Healthcheck.Test).toEqual([
      'CMD',
      '/bin/sh',
      '-c',
      'test -f /out/done &&\n  test -f /out/env',
    ]);
  }, 120_000);

  it("network: host on a container puts it in the host's network namespace", async () => {
    const read = await run('hostnet', {
      network: 'host',
      command: ['sh', '-c', 'readlink /proc/self/ns/net > /out/netns; touch /out/done; exec sleep 600'],
    });
    const host = String((await asUser(['readlink', '/proc/self/ns/net'])).stdout).trim();
    expect(read('netns').trim()).toBe(host);
    const inspect = JSON.parse(String((await asUser(['podman', 'inspect', 'hostnet'])).stdout))[0];
    expect(inspect.HostConfig.NetworkMode).toBe('host');
  }, 120_000);

  it('init reaps an orphan; shm size, extra hosts and ulimits are what the manifest says', async () => {
    const out = join(work, 'out');
    mkdirOwned(out, user);
    const manifest = {
      schemaVersion: 1,
      id: 'composekeys',
      name: 'compose keys',
      version: '1',
      containers: [
        {
          name: 'composekeys',
          image: 'localhost/busybox:latest',
          pull: 'never',
          command: ['sh', '-c', SCRIPT],
          init: true,
          shmSize: '96Mi',
          extraHosts: { 'bitcoind.example': '10.89.254.77', 'gateway.example': 'host-gateway' },
          ulimits: { nofile: { soft: 1024, hard: 4096 } },
          binds: [{ source: out, target: '/out' }],
          restart: 'no',
          stopSignal: 'SIGKILL',
          stopTimeout: 1,
        },
      ],
    };
    const r = createManifestValidator().validate(stringify(manifest), 'composekeys.yml', 'composekeys');
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    mkdirOwned(join(unitDir, 'composekeys'), user);
    for (const f of renderApp(r.app, { startAtBoot: false, source: 'composekeys.yml', appDir: work, dataDir: work }))
      writeFileSync(join(unitDir, 'composekeys', f.name), f.content);
    chownTree(unitDir, user);
    await asUser(['systemctl', '--user', 'daemon-reload']);
    await asUser(['systemctl', '--user', 'start', 'composekeys.service']);
    await waitFor(
      'the container to write what it sees',
      async () => {
        try {
          readFileSync(join(out, 'done'));
          return true;
        } catch {
          return undefined;
        }
      },
      60_000,
      250,
    );
    const read = (f: string) => readFileSync(join(out, f), 'utf8').trim();
    expect(read('pid1')).toBe('podman-init'); // catatonit, mounted by Podman as /run/podman-init
    expect(read('zombies')).toBe('0');
    expect(Number(read('shm'))).toBe(96 * 1024);
    const hosts = read('hosts').split('\n');
    expect(hosts[0]).toMatch(/^10\.89\.254\.77\s+bitcoind\.example$/);
    expect(hosts[1]).toMatch(/^\d+\.\d+\.\d+\.\d+\s+gateway\.example$/);
    expect(read('nofile')).toBe('1024 4096');
  }, 120_000);
});
