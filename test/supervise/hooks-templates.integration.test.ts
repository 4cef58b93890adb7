import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { reboot, useLabNode, waitHttp } from '../support/node.js';

// test/lab-apps/hooked against the lab's real systemd user manager and rootless Podman: an
// init container that must finish before the server may start (the server's health check
// reads what it wrote), a config file rendered from a template with a secret and an rpcauth
// line derived from it, an environment file, and hooks that leave marks on the app's volume,
// including one killed (kill -9) mid-run and one that fails.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

const APP = 'hooked';
const SERVER = 'hooked-server';
const HOOK = 'archy-quadlet-hook-hooked-post-install.service';

/** Lines of a file on the app's volume, read through the running server. */
async function lines(file: string): Promise<string[]> {
  const r = await asUser(['podman', 'exec', SERVER, 'cat', `/data/${file}`], { reject: false });
  return r.exitCode === 0 ? String(r.stdout).split('\n').filter(Boolean) : [];
}

/** Lines of a file on the app's volume with no container running (a throwaway one reads it). */
async function volumeLines(file: string): Promise<string[]> {
  const r = await asUser(
    ['podman', 'run', '--rm', '-v', 'hooked-data:/data:ro', 'localhost/busybox:latest', 'cat', `/data/${file}`],
    { reject: false },
  );
  return r.exitCode === 0 ? String(r.stdout).split('\n').filter(Boolean) : [];
}

async function unit(name: string): Promise<Record<string, string>> {
  const r = await asUser(['systemctl', '--user', 'show', '-p', 'ActiveState,SubState,Result,ExecMainStatus', name]);
  return Object.fromEntries(
    String(r.stdout)
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Passes, as the timer would run them, until `check` holds. */
async function reconcileUntil<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  return waitFor(
    what,
    async () => {
      await node().aq(['reconcile'], { reject: false });
      return check();
    },
    timeoutMs,
    1000,
  );
}

async function writeEnv(vars: Record<string, string>): Promise<void> {
  const text = Object.entries(vars)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
  await asUser(['sh', '-c', 'printf "%s" "$2" > "$1"', 'sh', join(node().appsDir, APP, 'hooks.env'), text]);
}

async function password(): Promise<string> {
  const r = await asUser(['podman', 'secret', 'inspect', '--showsecret', 'hooked-rpc-password']);
  return (JSON.parse(String(r.stdout)) as Array<{ SecretData: string }>)[0]!.SecretData;
}

async function config(): Promise<string> {
  return String((await asUser(['podman', 'exec', SERVER, 'cat', '/etc/hooked/server.conf'])).stdout);
}

/** The rpcauth line checks out against the password, as bitcoind checks it. */
function rpcauthMatches(conf: string, pass: string): boolean {
  const m = /^rpcauth=lab:([0-9a-f]{32})\$([0-9a-f]{64})$/m.exec(conf);
  return m !== null && createHmac('sha256', m[1]!).update(pass).digest('hex') === m[2];
}

async function serverStartedAt(): Promise<string> {
  return String((await asUser(['podman', 'inspect', '--format', '{{.State.StartedAt}}', SERVER])).stdout).trim();
}

describe.runIf(enabled)('hooks, an init container and a template in the lab', () => {
  it('the init container runs to completion first; the server reads the rendered config and the environment file', async () => {
    await writeEnv({ GREETING: 'hello from hooked', HOOK_SLEEP: '20', HOOK_EXIT: '0', HOOK_MARK: 'from-env' });
    await node().aq(['install', APP]);
    expect(await waitHttp(18095, '/', 90_000)).toBe('hello from hooked\n');
    // Done and kept done (RemainAfterExit), run exactly once; the server became healthy only
    // because its health check found what the init container wrote.
    expect(await unit('hooked-migrate.service')).toMatchObject({ ActiveState: 'active', SubState: 'exited' });
    expect(await lines('migrate.runs')).toEqual(['run']);
    expect(await lines('migrated')).toEqual(['migrated']);

    const pass = await password();
    const conf = await config();
    expect(conf).toMatch(new RegExp(`^rpcpassword=${pass}$`, 'm'));
    expect(rpcauthMatches(conf, pass)).toBe(true);
    // The file is the container's alone: a secret mount, read-only, with the mode asked for.
    const mode = await asUser(['podman', 'exec', SERVER, 'stat', '-c', '%a', '/etc/hooked/server.conf']);
    expect(String(mode.stdout).trim()).toBe('440');
    const write = await asUser(['podman', 'exec', SERVER, 'sh', '-c', 'echo x >> /etc/hooked/server.conf'], {
      reject: false,
    });
    expect(write.exitCode).not.toBe(0);
  }, 180_000);

  it('a post-install hook killed mid-run (kill -9) runs again, and its marker is made once', async () => {
    // Killed once its script has begun (a kill while podman exec is still setting up would cut
    // short a run that never started).
    await reconcileUntil('the post-install hook to run', async () =>
      (await unit(HOOK)).SubState === 'running' && (await lines('post-install.runs')).length === 1 ? true : undefined,
    );
    await asUser(['systemctl', '--user', 'kill', '--signal=SIGKILL', HOOK]);
    await waitFor('the hook to be killed', async () =>
      (await unit(HOOK)).ActiveState === 'failed' ? true : undefined,
    );
    expect((await unit(HOOK)).Result).toBe('signal');
    await reconcileUntil('the post-install hook to be recorded', async () => {
      const state = JSON.parse(String((await asUser(['cat', join(node().stateDir, 'state.json')])).stdout));
      return state.apps[APP].hooksDone?.postInstall ? true : undefined;
    });
    expect(await lines('post-install.runs')).toEqual(['run', 'run']);
    expect(await lines('marker.created')).toEqual(['created']);
    // Recorded: further passes do not run it again, and its unit is gone.
    await node().aq(['reconcile']);
    await node().aq(['reconcile']);
    expect(await lines('post-install.runs')).toEqual(['run', 'run']);
    expect((await unit(HOOK)).ActiveState).toBe('inactive');
    expect((await node().aq(['explain', APP])).stdout).toContain('post-install done');
  }, 180_000);

  it('a re-created secret re-renders the config and restarts the server; the value is never in a unit or output', async () => {
    const before = await password();
    const started = await serverStartedAt();
    const postStarts = (await lines('post-start.runs')).length;
    // Deleted by hand, and the app restarted: it gets a new password, and the config file is
    // derived from that one, never left as it was.
    await asUser(['podman', 'secret', 'rm', 'hooked-rpc-password']);
    const outputs: string[] = [(await node().aq(['restart', APP])).stdout];
    const after = await waitFor(
      'the server to read a config rendered from the new password',
      async () => {
        const r = await node().aq(['reconcile'], { reject: false });
        outputs.push(r.stdout, r.stderr);
        const pass = await password().catch(() => undefined);
        const conf = await config().catch(() => '');
        return pass && pass !== before && conf.split('\n').includes(`rpcpassword=${pass}`) ? pass : undefined;
      },
      120_000,
      1000,
    );
    expect(rpcauthMatches(await config(), after)).toBe(true);
    expect(await serverStartedAt()).not.toBe(started);
    await reconcileUntil('the post-start hook of the new start', async () =>
      (await lines('post-start.runs')).length === postStarts + 1 ? true : undefined,
    );
    // The hook's command arrived as written: ${HOOK_MARK} put in by the container's shell.
    expect(new Set(await lines('post-start.runs'))).toEqual(new Set(['started from-env']));
    // Nowhere in the clear: not in a unit file, the state, the passes' output, explain or status.
    const grep = await asUser(
      [
        'grep',
        '-rlF',
        '-e',
        after,
        '-e',
        before,
        node().unitRoot,
        node().stateDir,
        join(node().user.home, '.local/share/archy-quadlet'),
      ],
      { reject: false },
    );
    expect(String(grep.stdout)).toBe('');
    const explain = (await node().aq(['explain', APP])).stdout;
    // explain shows the rendered file, every secret and what is derived from one redacted.
    expect(explain).toContain('rpcauth=lab:‹salt›$‹hmac of secret rpc-password›\nrpcpassword=‹secret rpc-password›');
    outputs.push(explain, (await node().aq(['status', '--json'])).stdout);
    for (const text of outputs) {
      expect(text).not.toContain(after);
      expect(text).not.toContain(before);
    }
  }, 240_000);

  it('restart runs the init container again; a new version runs the post-update hook once', async () => {
    const runs = (await lines('migrate.runs')).length;
    await node().aq(['restart', APP]);
    await reconcileUntil('the init container to have run again', async () =>
      (await lines('migrate.runs')).length === runs + 1 && (await node().status(APP))?.state === 'running'
        ? true
        : undefined,
    );
    expect(await lines('post-update.runs')).toEqual([]);
    const manifest = join(node().appsDir, APP, 'manifest.yml');
    await asUser(['sed', '-i', 's/^version: "1.0.0"/version: "1.0.1"/', manifest]);
    await reconcileUntil('the post-update hook', async () =>
      (await lines('post-update.runs')).length > 0 ? true : undefined,
    );
    await node().aq(['reconcile']);
    expect(await lines('post-update.runs')).toEqual(['updated']);
  }, 240_000);

  it('uninstall runs the pre-uninstall hook while the server still runs, then stops the app', async () => {
    await node().aq(['uninstall', APP]);
    await reconcileUntil('the app to be gone', async () =>
      (await node().status(APP)) === undefined ? true : undefined,
    );
    expect(await volumeLines('pre-uninstall.runs')).toEqual(['uninstalling']);
  }, 180_000);

  it('a failing post-install hook holds the app with its exit code and output; restart runs it again', async () => {
    // A fresh start: the uninstalled app's data goes.
    await asUser(['podman', 'volume', 'rm', 'hooked-data']);
    await writeEnv({ GREETING: 'hello again', HOOK_SLEEP: '0', HOOK_EXIT: '3' });
    await node().aq(['install', APP]);
    const reason = `post-install hook failed (exit code 3): archy-quadlet explain ${APP} shows its output; archy-quadlet restart ${APP} runs it again`;
    await reconcileUntil('the failure to be held', async () =>
      (await node().status(APP))?.held?.includes(reason) ? true : undefined,
    );
    const r = await node().aq(['reconcile'], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`${APP}: ${reason}`);
    expect((await node().aq(['explain', APP])).stdout).toContain('failing on purpose with 3');
    // Held, not retried: the hook ran once.
    expect(await lines('post-install.runs')).toEqual(['run']);

    await writeEnv({ GREETING: 'hello again', HOOK_SLEEP: '0', HOOK_EXIT: '0' });
    await node().aq(['restart', APP]);
    await reconcileUntil('the hook to succeed', async () => {
      const s = await node().status(APP);
      return s?.state === 'running' && !s.held && (await lines('marker.created')).length === 1 ? true : undefined;
    });
    expect(await lines('post-install.runs')).toEqual(['run', 'run']);
  }, 300_000);

  it('a reboot in the middle of a post-install hook: it runs again after the boot, its marker made once', async () => {
    await node().aq(['uninstall', APP]);
    await reconcileUntil('the app to be gone', async () =>
      (await node().status(APP)) === undefined ? true : undefined,
    );
    await asUser(['podman', 'volume', 'rm', 'hooked-data']);
    await writeEnv({ GREETING: 'hello', HOOK_SLEEP: '30', HOOK_EXIT: '0', HOOK_MARK: 'from-env' });
    await node().aq(['install', APP]);
    await reconcileUntil('the post-install hook to run', async () =>
      (await unit(HOOK)).SubState === 'running' && (await lines('post-install.runs')).length === 1 ? true : undefined,
    );
    await reboot();
    // Started at boot by systemd; the hook's transient unit did not survive the reboot.
    await reconcileUntil(
      'the post-install hook to be recorded after the boot',
      async () => {
        const state = JSON.parse(String((await asUser(['cat', join(node().stateDir, 'state.json')])).stdout));
        return state.apps[APP].hooksDone?.postInstall ? true : undefined;
      },
      150_000,
    );
    expect(await lines('post-install.runs')).toEqual(['run', 'run']);
    expect(await lines('marker.created')).toEqual(['created']);
  }, 300_000);
});
