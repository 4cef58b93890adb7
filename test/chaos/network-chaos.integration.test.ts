import { describe, expect } from 'vitest';
import { requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { http, useLabNode, waitHttp } from '../support/node.js';
import { chaosIt } from './chaos.js';

// Chaos in rootless Podman's networking: the helpers that containers on bridge networks live
// on, killed under running apps (see src/podman-heal/network-helpers.ts).

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

const STACK = 'web-ok\napi-ok\ndb-ok\n';
/** A page on the host, for a container to reach through the namespace's pasta (169.254.1.2 is the host to it). */
const HOST_PORT = 18099;
const HOST_WWW = '/tmp/archy-network-chaos-www';

const networks = '"$XDG_RUNTIME_DIR/containers/networks"';

async function killHelper(pidFile: string): Promise<number> {
  const r = await asUser(['sh', '-c', `pid=$(cat ${networks}/${pidFile}) && kill -9 "$pid" && echo "$pid"`]);
  return Number(String(r.stdout).trim());
}

/** What stack's web container gets from the host, through the rootless namespace's way out. */
async function hostFromContainer(): Promise<string> {
  const r = await asUser(
    ['podman', 'exec', 'stack-web', 'wget', '-q', '-O', '-', '-T', '3', `http://169.254.1.2:${HOST_PORT}/`],
    { reject: false },
  );
  return r.exitCode === 0 ? String(r.stdout) : `failed: ${String(r.stderr).trim()}`;
}

async function reconcile(): Promise<Array<{ kind: string; ok: boolean; reason: string; error?: string }>> {
  // A step that failed makes the exit status 1: the report says which.
  const r = await node().aq(['reconcile', '--json'], { reject: false });
  return (JSON.parse(r.stdout) as { applied: Array<{ kind: string; ok: boolean; reason: string; error?: string }> })
    .applied;
}

describe.runIf(enabled)('chaos: rootless networking', () => {
  chaosIt(
    12,
    "the rootless network namespace's helpers killed (aardvark-dns, then pasta): found and started again by the next pass",
    30_000,
    async (run) => {
      // Steady state: stack's three containers on their private network reach each other by
      // name (its page shows all three), and reach the host.
      await asUser([
        'sh',
        '-c',
        `mkdir -p ${HOST_WWW} && echo host-ok > ${HOST_WWW}/index.html && busybox httpd -p 0.0.0.0:${HOST_PORT} -h ${HOST_WWW}`,
      ]);
      try {
        await node().aq(['install', 'stack', '--wait', '--timeout', '90']);
        expect(await waitHttp(18082, '/cgi-bin/index')).toBe(STACK);
        expect(await hostFromContainer()).toBe('host-ok');

        // aardvark-dns killed: names no longer resolve (the page loses api and db).
        await killHelper('aardvark-dns/aardvark.pid');
        run.broke();
        expect(await http(18082, '/cgi-bin/index')).not.toBe(STACK);
        const doctor = JSON.parse((await node().aq(['doctor', '--json'], { reject: false })).stdout) as {
          checks: Array<{ id: string; level: string; detail: string }>;
        };
        expect(doctor.checks.filter((c) => c.id === 'podman-state')).toMatchObject([
          { level: 'fail', detail: expect.stringMatching(/aardvark-dns \(pid \d+\) is gone/) },
        ]);
        const dnsPass = await waitFor(
          'a pass that starts aardvark-dns again',
          async () => {
            const applied = await reconcile();
            return applied.some((s) => s.kind === 'restartDnsHelper' && s.ok) ? applied : undefined;
          },
          20_000,
          500,
        );
        expect(dnsPass.find((s) => s.kind === 'restartDnsHelper')?.reason).toMatch(/cannot resolve each other's names/);
        expect(await waitHttp(18082, '/cgi-bin/index', 20_000)).toBe(STACK);
        run.recovered();

        // The namespace's pasta killed: silent for the pages (published ports and names still
        // work), but no container reaches the host or the internet any more.
        await killHelper('rootless-netns/rootless-netns-conn.pid');
        run.broke();
        expect(await hostFromContainer()).toMatch(/^failed: .*(unreachable|refused|timed out)/i);
        expect(await http(18082, '/cgi-bin/index')).toBe(STACK);
        const netnsPass = await reconcile();
        expect(netnsPass).toContainEqual(
          expect.objectContaining({ kind: 'restartNetnsHelper', ok: true, reason: expect.stringMatching(/pasta/) }),
        );
        expect(await hostFromContainer()).toBe('host-ok');
        run.recovered();

        // Both at once, and `doctor --fix` rather than a pass.
        await killHelper('aardvark-dns/aardvark.pid');
        await killHelper('rootless-netns/rootless-netns-conn.pid');
        run.broke();
        // One run fixes both, and says so only once each helper runs again: the helpers are
        // zombies until the user manager reaps them, and Podman takes a zombie for alive (its
        // command then succeeds and starts nothing), so the fix repeats it until it has.
        const fixed = (await node().aq(['doctor', '--fix'], { reject: false })).stdout;
        expect(fixed).toMatch(/^fixed: entered the rootless network namespace/m);
        expect(fixed).toMatch(/^fixed: reloaded the network of stack-/m);
        expect(fixed).not.toMatch(/fix failed/);
        expect(await hostFromContainer(), fixed).toBe('host-ok');
        expect(await waitHttp(18082, '/cgi-bin/index', 20_000)).toBe(STACK);
        run.recovered();
        // Nothing left for a pass to do, and the app never stopped being running.
        expect(await reconcile()).toEqual([]);
        expect((await node().status('stack'))?.state).toBe('running');
      } finally {
        await asUser(['pkill', '-f', `httpd -p 0.0.0.0:${HOST_PORT}`], { reject: false });
      }
    },
    300_000,
  );
});
