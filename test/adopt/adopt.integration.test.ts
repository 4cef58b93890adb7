import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { requireLab, AS_USER } from '../support/lab.js';
import { asUser, chownTree, waitFor } from '../support/lab-user.js';
import { containerId, http, reboot, useLabNode, waitHttp } from '../support/node.js';
import { gateIterations } from '../lifecycle/results.js';

// `archy-quadlet adopt` in the lab (issue 12): an old node built as Archipelago nodes are, with
// real `podman run` containers (--restart=always and --restart=unless-stopped, a named
// volume, a bind under a data root, a secret in a file, a published port, data written) and
// the node's own restart mechanism (podman-restart.service) enabled; then adopted, refused,
// rolled back, killed at random points and rebooted in the middle.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);
const ITERATIONS = gateIterations(process.env.ARCHY_ITERATIONS);
const busybox = 'localhost/busybox:latest';
const KEEPER_CMD =
  'mkdir -p /www && date >> /data/log && cp /data/log /www/log && cp /files/note /www/note; printf %s "$TOKEN" | sha256sum > /www/token; exec httpd -f -p 8080 -h /www';
const DB_CMD = 'date >> /var/db/log && exec nc -ll -p 7000 -e cat /var/db/log';
const WEB_CMD =
  'mkdir -p /www/cgi-bin && printf "#!/bin/sh\\nprintf \\"Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n\\"\\nnc keepstack-db 7000 </dev/null\\n" > /www/cgi-bin/log && chmod +x /www/cgi-bin/log && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www';
const OLD_NAMES = ['keeper', 'keepstack', 'keepstack-db', 'keepstack-backup'];

let dataRoot = '';
const sh = (script: string, reject = true) => asUser(['bash', '-c', script], { reject, timeout: 120_000 });
const out = async (args: string[]) => String((await asUser(args)).stdout).trim();
const inspect = async (name: string, format: string) => {
  const r = await asUser(['podman', 'inspect', '--format', format, name], { reject: false });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
};

/** The old keeper, as `podman run` made it on the node: its secret read from the file with `$(cat)` (no newline). */
async function oldKeeper(): Promise<void> {
  await sh(`set -e
    mkdir -p ${dataRoot}/keeper ${dataRoot}/secrets
    [ -f ${dataRoot}/keeper/note ] || echo "a note kept in the data dir" > ${dataRoot}/keeper/note
    [ -f ${dataRoot}/secrets/keeper-token ] || { printf 'old-node-token-%s\\n' "$RANDOM$RANDOM" > ${dataRoot}/secrets/keeper-token; chmod 600 ${dataRoot}/secrets/keeper-token; }
    podman volume exists keeper-store || podman volume create keeper-store >/dev/null
    podman run -d --restart=unless-stopped --name keeper -v keeper-store:/data -v ${dataRoot}/keeper:/files \
      -e TOKEN="$(cat ${dataRoot}/secrets/keeper-token)" -p 127.0.0.1:18096:8080 --stop-signal SIGKILL \
      ${busybox} sh -c '${KEEPER_CMD}' >/dev/null`);
  await waitHttp(18096, '/log');
}

/** The old stack: its database (--restart=always, a named volume) and its web front (--restart=unless-stopped), on a network of its own. */
async function oldStack(): Promise<void> {
  await sh(`set -e
    podman network exists keepstack || podman network create keepstack >/dev/null
    podman volume exists keepstack-db-data || podman volume create keepstack-db-data >/dev/null
    podman run -d --restart=always --name keepstack-db --network keepstack -v keepstack-db-data:/var/db \
      --stop-signal SIGKILL ${busybox} sh -c '${DB_CMD}' >/dev/null
    podman run -d --restart=unless-stopped --name keepstack --network keepstack -p 127.0.0.1:18097:8080 \
      --stop-signal SIGKILL ${busybox} sh -c '${WEB_CMD.replace(/'/g, `'\\''`)}' >/dev/null`);
  await waitFor('the old stack to serve its database log', async () =>
    (await http(18097, '/cgi-bin/log'))?.includes('UTC') ? true : undefined,
  );
}

/** What a dry run must leave as it found it: containers, volumes, secrets, networks, units, state. */
async function snapshot(): Promise<string> {
  const r = await sh(`
    podman ps -a --format '{{.ID}} {{.Names}} {{.State}} {{.Labels.PODMAN_SYSTEMD_UNIT}}' | sort
    for c in $(podman ps -aq); do podman inspect --format '{{.Name}} {{.HostConfig.RestartPolicy.Name}}' $c; done | sort
    podman volume ls --format '{{.Name}}' | sort; podman secret ls --format '{{.Name}}' | sort
    podman network ls --format '{{.Name}}' | sort
    find $HOME/.config/containers/systemd -type f 2>/dev/null | sort
    cat $HOME/.local/state/archy-quadlet/state.json 2>/dev/null; true`);
  return String(r.stdout);
}

const manifestPath = (app: string) => join(node().appsDir, app, 'manifest.yml');
/** Changes a manifest of the node's catalog for the duration of `fn`. */
async function withManifest(app: string, edit: (text: string) => string, fn: () => Promise<void>): Promise<void> {
  const original = readFileSync(manifestPath(app), 'utf8');
  writeFileSync(manifestPath(app), edit(original));
  chownTree(manifestPath(app), node().user);
  try {
    await fn();
  } finally {
    writeFileSync(manifestPath(app), original);
  }
}

async function state(): Promise<{ apps: Record<string, Record<string, unknown>> }> {
  const r = await asUser(['cat', join(node().stateDir, 'state.json')], { reject: false });
  return r.exitCode === 0 ? JSON.parse(String(r.stdout)) : { apps: {} };
}

describe.runIf(enabled)('adopt: an old node of plain podman run containers', () => {
  beforeAll(async () => {
    dataRoot = join(node().user.home, 'archipelago-lab');
    await sh(`set -e
      for c in ${OLD_NAMES.map((n) => `${n} ${n}.pre-adoption`).join(' ')}; do podman rm -f -t 0 $c >/dev/null 2>&1 || true; done
      podman volume rm -f keeper-store keepstack-db-data >/dev/null 2>&1 || true
      podman network rm -f keepstack >/dev/null 2>&1 || true
      rm -rf ${dataRoot}; mkdir -p ${dataRoot} $HOME/.config/archy-quadlet
      printf 'dataRoot: ${dataRoot}\\n' > $HOME/.config/archy-quadlet/config.yml
      systemctl --user enable podman-restart.service >/dev/null 2>&1`);
  }, 120_000);

  afterAll(async () => {
    if (!enabled) return;
    await sh(
      `for c in ${OLD_NAMES.map((n) => `${n} ${n}.pre-adoption`).join(' ')}; do podman rm -f -t 0 $c >/dev/null 2>&1; done
      podman volume rm -f keeper-store keepstack-db-data >/dev/null 2>&1; podman network rm -f keepstack >/dev/null 2>&1
      systemctl --user disable podman-restart.service >/dev/null 2>&1
      rm -rf ${dataRoot} $HOME/.config/archy-quadlet/config.yml; true`,
      false,
    );
  }, 120_000);

  it('the old node first: a reboot brings back what podman-restart.service starts (Podman 5.4: restart-policy=always only)', async () => {
    await oldKeeper();
    await oldStack();
    await reboot();
    await waitFor(
      'podman-restart.service to have run',
      async () => {
        const r = await asUser(['systemctl', '--user', 'show', '-P', 'ActiveState', 'podman-restart.service'], {
          reject: false,
        });
        return String(r.stdout).trim() === 'active' ? true : undefined;
      },
      60_000,
    );
    // --restart=always: started again at boot. --restart=unless-stopped: not, on this Podman;
    // the node's own mechanism, measured, is what adoption must not fight.
    expect(await inspect('keepstack-db', '{{.State.Status}}')).toBe('running');
    expect(await inspect('keeper', '{{.State.Status}}')).toBe('exited');
    expect(await inspect('keepstack', '{{.State.Status}}')).toBe('exited');
    await sh('podman start keeper keepstack >/dev/null');
    await waitHttp(18096, '/log');
    await waitHttp(18097, '/');
  }, 240_000);

  it('--dry-run prints the comparison and the plan, and changes nothing', async () => {
    const before = await snapshot();
    const r = await node().aq(['adopt', 'keeper', '--dry-run']);
    expect(r.stdout).toContain('keeper: can be adopted (dry run: nothing was changed)');
    expect(r.stdout).toContain('mount: keeper-store → /data: kept as volumes[0] (volume store)');
    expect(r.stdout).toContain(`mount: ${dataRoot}/keeper → /files: kept as binds[0]`);
    expect(r.stdout).toContain(`secret keeper-token: imported from ${dataRoot}/secrets/keeper-token (manifest)`);
    expect(r.stdout).toContain('restart policy unless-stopped → no');
    expect(r.stdout).not.toMatch(/old-node-token/);
    const json = JSON.parse((await node().aq(['adopt', 'keeper', '--dry-run', '--json'])).stdout);
    expect(json).toMatchObject({ ok: true, intent: 'running', volumes: { reused: ['keeper-store'] } });
    expect(await snapshot()).toBe(before);
  }, 120_000);

  it('refuses a manifest that would leave a mount behind, naming it; nothing changed', async () => {
    const before = await snapshot();
    await withManifest(
      'keeper',
      (t) => t.replace(/ {4}binds:\n {6}- source: \.\n {8}target: \/files\n/, ''),
      async () => {
        const r = await node().aq(['adopt', 'keeper'], { reject: false });
        expect(r.exitCode).toBe(1);
        expect(r.stdout).toContain('keeper: cannot be adopted; nothing was changed');
        expect(r.stdout).toContain(
          `host directory ${dataRoot}/keeper is mounted at /files, and the manifest mounts nothing there`,
        );
        expect(r.stdout).toContain(`mount: ${dataRoot}/keeper → /files: NOT CARRIED OVER`);
      },
    );
    expect(await snapshot()).toBe(before);
  }, 120_000);

  it('rolls back a new version that never becomes healthy: the old container serves as before, and status says why', async () => {
    const id = await containerId('keeper');
    const log = await waitHttp(18096, '/log');
    await sh(`podman tag ${busybox} localhost/busybox:adopt-bad`);
    await withManifest(
      'keeper',
      (t) =>
        t
          .replace('image: localhost/busybox:latest', 'image: localhost/busybox:adopt-bad')
          .replace('http: http://127.0.0.1:8080/log', 'http: http://127.0.0.1:8080/not-there')
          .replace('startTimeout: 30s', 'startTimeout: 8s'),
      async () => {
        // --secret imports the file's exact bytes, its trailing newline included.
        await sh(`printf 'exact-bytes\\r\\n' > ${dataRoot}/secrets/exact; chmod 600 ${dataRoot}/secrets/exact`);
        const r = await node().aq(
          ['adopt', 'keeper', '--secret', `token=${dataRoot}/secrets/exact`, '--wait', '--timeout', '120'],
          { reject: false },
        );
        expect(r.exitCode, r.stdout + r.stderr).toBe(3);
        expect(r.stdout).toContain(`secret keeper-token: imported from ${dataRoot}/secrets/exact (--secret)`);
        const secret = JSON.parse(await out(['podman', 'secret', 'inspect', '--showsecret', 'keeper-token']))[0];
        expect(secret.SecretData).toBe('exact-bytes\r\n');
        expect(r.stdout).toMatch(/now not-adopted: keeper\.service (did not become ready|was not healthy)/);
      },
    );
    const v = await node().status('keeper');
    expect(v).toMatchObject({ state: 'not-adopted', desired: 'absent', converged: true });
    expect((v as { adoption?: { reason?: string } }).adoption?.reason).toMatch(/keeper\.service/);
    expect((await node().aq(['explain', 'keeper'])).stdout).toMatch(
      /adoption rolled back .*the old containers run as before/,
    );
    // The same container, under its name, its restart policy back, serving its data (one more start line).
    expect(await containerId('keeper')).toBe(id);
    expect(await inspect('keeper', '{{.HostConfig.RestartPolicy.Name}} {{.State.Status}}')).toBe(
      'unless-stopped running',
    );
    expect(await containerId('keeper.pre-adoption')).toBeUndefined();
    const after = await waitFor('the old keeper to serve again', async () => {
      const now = await http(18096, '/log');
      return now?.startsWith(log) ? now : undefined;
    });
    // The old container's start added a line (so did the new version's failed tries, on the same volume).
    expect(after.split('\n').filter(Boolean).length).toBeGreaterThan(log.split('\n').filter(Boolean).length);
    expect((await sh('find $HOME/.config/containers/systemd/archy-quadlet -type f 2>/dev/null', false)).stdout).toBe(
      '',
    );
  }, 180_000);

  it('adopts: same data, same port, same secret, same container name, now owned by its unit', async () => {
    const token = await waitHttp(18096, '/token');
    const log = await waitHttp(18096, '/log');
    const r = await node().aq(['adopt', 'keeper', '--wait', '--timeout', '120']);
    expect(r.stdout).toMatch(/keeper: adoption begun; now running/);
    expect(r.stderr).toMatch(/"step":"retireContainer"/);
    expect(await waitHttp(18096, '/token')).toBe(token);
    expect(await waitHttp(18096, '/note')).toBe('a note kept in the data dir\n');
    const now = await waitHttp(18096, '/log');
    expect(now.startsWith(log)).toBe(true);
    expect(await inspect('keeper', '{{index .Config.Labels "PODMAN_SYSTEMD_UNIT"}}')).toBe('keeper.service');
    expect(await containerId('keeper.pre-adoption')).toBeUndefined();
    // The secret holds the file's bytes, its trailing newline stripped as the manifest says.
    const file = await out(['cat', `${dataRoot}/secrets/keeper-token`]);
    const secret = JSON.parse(await out(['podman', 'secret', 'inspect', '--showsecret', 'keeper-token']))[0].SecretData;
    expect(secret).toBe(file);
    // Reused as it was: Quadlet's `volume create --ignore` added no label of ours; the state records it.
    expect(await out(['podman', 'volume', 'inspect', '--format', '{{json .Labels}}', 'keeper-store'])).not.toContain(
      'io.archipelago',
    );
    expect((await state()).apps.keeper).toMatchObject({
      intent: 'running',
      adoptedVolumes: ['keeper-store'],
      importedSecrets: ['keeper-token'],
    });
    expect((await state()).apps.keeper!.adoption).toBeUndefined();
    expect(await node().status('keeper')).toMatchObject({ state: 'running', converged: true });
  }, 180_000);

  it('after a reboot only the unit’s container runs', async () => {
    await reboot();
    await waitHttp(18096, '/log', 120_000);
    const names = await out(['podman', 'ps', '-a', '--format', '{{.Names}} {{.Labels.PODMAN_SYSTEMD_UNIT}}']);
    expect(names.split('\n').filter((l) => l.startsWith('keeper'))).toEqual(['keeper keeper.service']);
    expect(await node().status('keeper')).toMatchObject({ state: 'running' });
    // The stack was not adopted: its --restart=always database came back, its web front did not.
    await sh('podman start keepstack >/dev/null');
  }, 240_000);

  it('rolls back a stack: its containers find each other by name as before (renamed back before they start)', async () => {
    await withManifest(
      'keepstack',
      (t) =>
        t
          .replace('http: http://127.0.0.1:8080/\n', 'http: http://127.0.0.1:8080/not-there\n')
          .replaceAll('startTimeout: 30s', 'startTimeout: 8s'),
      async () => {
        const r = await node().aq(['adopt', 'keepstack', '--wait', '--timeout', '120'], { reject: false });
        expect(r.exitCode, r.stdout + r.stderr).toBe(3);
        expect(r.stdout).toMatch(/now not-adopted: keepstack\.service/);
      },
    );
    expect(await inspect('keepstack', '{{.HostConfig.RestartPolicy.Name}} {{.State.Status}}')).toBe(
      'unless-stopped running',
    );
    expect(await inspect('keepstack-db', '{{.HostConfig.RestartPolicy.Name}} {{.State.Status}}')).toBe(
      'always running',
    );
    // Nothing started by hand: the web front asks keepstack-db by name, as on the old node.
    expect(await dbLog()).toMatch(/UTC/);
    await node().aq(['uninstall', 'keepstack', '--wait', '--timeout', '60']);
  }, 240_000);

  it('adopts a multi-container stack, reports a container the manifest does not know and leaves it be', async () => {
    await sh(`podman run -d --name keepstack-backup ${busybox} sleep 100000 >/dev/null`);
    const backup = await containerId('keepstack-backup');
    const dry = await node().aq(['adopt', 'keepstack', '--dry-run']);
    expect(dry.stdout).toContain('not in the manifest (left as it is): keepstack-backup');
    expect(dry.stdout).toContain('keepstack-db: can be adopted');
    expect(dry.stdout).toContain('volume keepstack-db-data: reused as it is');
    // --secret of a name the manifest does not declare: refused, nothing changed.
    const bad = await node().aq(['adopt', 'keepstack', '--secret', 'nope=/etc/hostname'], { reject: false });
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout).toContain('--secret nope: the manifest declares no secret nope');
    await adoptedWhole(await adoptSettled());
    expect(await containerId('keepstack-backup')).toBe(backup);
    await sh('podman rm -f -t 0 keepstack-backup >/dev/null');
  }, 240_000);

  it(
    `a kill -9 at a random point of an adoption ends whole, ${ITERATIONS} time(s), and so does a reboot`,
    async () => {
      const outcomes: string[] = [];
      for (let i = 0; i <= ITERATIONS; i++) {
        await backToOldStack();
        const before = await dbLines();
        const delayMs = Math.floor(Math.random() * 6000);
        const rebooting = i === ITERATIONS; // the last round: a reboot instead of a kill
        // The verb, then passes one after another (the timer's job), until the kill or the reboot.
        const running = execa(
          AS_USER,
          [
            'bash',
            '-c',
            `export ARCHY_QUADLET_APPS=${node().appsDir}; (archy-quadlet adopt keepstack; while :; do archy-quadlet reconcile; done) >/dev/null 2>&1 & echo $! > /tmp/aq-adopt-loop.pid; wait`,
          ],
          { reject: false, cwd: '/', stdin: 'ignore', timeout: 180_000 },
        );
        await new Promise((r) => setTimeout(r, delayMs));
        if (rebooting) await reboot();
        await killLoop();
        await running;
        const how = await settle();
        outcomes.push(`${rebooting ? 'reboot' : 'kill -9'} after ${delayMs} ms: ${how}`);
        if (how === 'adopted') await adoptedWhole(how);
        else await asBefore(rebooting);
        expect(await dbLines()).toBeGreaterThanOrEqual(before); // no data lost
      }
      console.log(`adoption chaos: ${outcomes.join('; ')}`);
    },
    300_000 + ITERATIONS * 120_000,
  );
});

/** Kills the loop of passes first (no new one starts), then every archy-quadlet process of the lab user. */
async function killLoop(): Promise<void> {
  await asUser(
    [
      'bash',
      '-c',
      `kill -KILL $(cat /tmp/aq-adopt-loop.pid 2>/dev/null) 2>/dev/null; pkill -KILL -f '^node .*archy-quadlet'; true`,
    ],
    { reject: false },
  );
}

/** Runs adopt (it returns at once, the adoption under way), then passes, until the stack is adopted or rolled back; which one. */
async function adoptSettled(): Promise<'adopted' | 'as before'> {
  const r = await node().aq(['adopt', 'keepstack']);
  expect(r.stdout).toMatch(/keepstack: adoption begun; now adopting/);
  expect((await node().aq(['status', 'keepstack'])).stdout).toMatch(
    /keepstack: adopting \(wanted: running\)\n[\s\S]*being adopted since/,
  );
  return settle();
}

/** Passes until no adoption is in flight; then which whole state the node is in. */
async function settle(): Promise<'adopted' | 'as before'> {
  return waitFor(
    'the adoption to end',
    async () => {
      await node().aq(['reconcile'], { reject: false });
      const s = (await state()).apps.keepstack as { adoption?: { phase: string }; intent?: string } | undefined;
      if (!s || s.adoption?.phase === 'rolledBack') return 'as before' as const;
      if (!s.adoption) {
        const v = await node().status('keepstack');
        return v?.converged ? ('adopted' as const) : undefined;
      }
      return undefined;
    },
    150_000,
    1000,
  );
}

async function adoptedWhole(how: string): Promise<void> {
  expect(how).toBe('adopted');
  for (const [name, unit] of [
    ['keepstack', 'keepstack.service'],
    ['keepstack-db', 'keepstack-db.service'],
  ] as const)
    expect(await inspect(name, '{{index .Config.Labels "PODMAN_SYSTEMD_UNIT"}} {{.State.Status}}')).toBe(
      `${unit} running`,
    );
  expect(await containerId('keepstack.pre-adoption')).toBeUndefined();
  expect(await containerId('keepstack-db.pre-adoption')).toBeUndefined();
  expect(await dbLog()).toMatch(/UTC/);
}

/** The stack's page once it shows the db's line (the db may still be starting when the page first answers). */
async function dbLog(): Promise<string> {
  return waitFor(
    "the stack's page to show its db's line",
    async () => {
      const body = await http(18097, '/cgi-bin/log');
      return body?.includes('UTC') ? body : undefined;
    },
    60_000,
    250,
  );
}

async function asBefore(afterReboot: boolean): Promise<void> {
  expect(await inspect('keepstack', '{{.HostConfig.RestartPolicy.Name}}')).toBe('unless-stopped');
  expect(await inspect('keepstack-db', '{{.HostConfig.RestartPolicy.Name}}')).toBe('always');
  expect(await inspect('keepstack', '{{index .Config.Labels "PODMAN_SYSTEMD_UNIT"}}')).toMatch(/^(<no value>)?$/);
  expect(await containerId('keepstack.pre-adoption')).toBeUndefined();
  expect(await containerId('keepstack-db.pre-adoption')).toBeUndefined();
  expect(
    (await sh('find $HOME/.config/containers/systemd/archy-quadlet/keepstack -type f 2>/dev/null', false)).stdout,
  ).toBe('');
  // After a reboot the node's own mechanism decides what runs (always: yes; unless-stopped: no).
  if (!afterReboot) expect(await inspect('keepstack', '{{.State.Status}}')).toBe('running');
  await sh('podman start keepstack keepstack-db >/dev/null');
  // The page answers (empty) before the db it asks listens again: wait for the db's line.
  expect(await dbLog()).toMatch(/UTC/);
}

/** The next round starts from the old node: an adopted stack is uninstalled (its data kept) and run by hand again. */
async function backToOldStack(): Promise<void> {
  const s = (await state()).apps.keepstack;
  if (s) await node().aq(['uninstall', 'keepstack', '--wait', '--timeout', '60']);
  if (!(await containerId('keepstack-db')) || !(await containerId('keepstack'))) {
    await sh('podman rm -f -t 0 keepstack keepstack-db >/dev/null 2>&1; true');
    await oldStack();
  }
}

async function dbLines(): Promise<number> {
  const log = await dbLog();
  return log.split('\n').filter((l) => l.includes('UTC')).length;
}
