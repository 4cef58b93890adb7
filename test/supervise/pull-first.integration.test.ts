import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree, waitFor } from '../support/lab-user.js';
import { containerId, http, useLabNode, waitHttp } from '../support/node.js';

// Pull first (issue 13), in the lab: a running app whose manifest names a new image that is
// not in the store is pulled in a transient unit while the old container keeps serving; its
// new unit is written only once the image is there. A pull that fails (no registry answers
// here) leaves the old container serving, with Podman's message in status and explain, and
// is tried again with backoff; a manifest naming an image that is there switches at once.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);
const MISSING = 'localhost/aq-pull-missing:v2';
/** A "registry" that accepts connections and never answers: a pull from it hangs, as a slow download does. */
const SLOW_PORT = 18099;
const SLOW = `127.0.0.1:${SLOW_PORT}/aq/slow:v2`;
const V2 = 'localhost/aq-pull-web:v2';

const manifestPath = () => join(node().appsDir, 'web', 'manifest.yml');
function setImage(image: string, pull: string): void {
  const text = readFileSync(manifestPath(), 'utf8')
    .replace(/^ {4}image: .*$/m, `    image: ${image}`)
    .replace(/^ {4}pull: .*$/m, `    pull: ${pull}`);
  writeFileSync(manifestPath(), text);
  chownTree(manifestPath(), node().user);
}

describe.runIf(enabled)('pull first: an update never stops the running version for a pull', () => {
  it('a failed pull leaves the old container serving and says why; an image in the store switches', async () => {
    await asUser(['podman', 'rmi', '-f', V2], { reject: false });
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    expect(await waitHttp(18081)).toBe('ok\n');
    const old = await containerId('web');

    // The new manifest names an image no registry here has.
    setImage(MISSING, 'missing');
    const r = await node().aq(['reconcile'], { reject: false });
    expect(r.stderr).toMatch(
      /"step":"pullImage","reason":"new image localhost\/aq-pull-missing:v2 pulled before the switch/,
    );
    expect(r.stderr).not.toMatch(/"step":"writeUnit"/);
    const failed = await waitFor(
      'the pull to fail and be reported',
      async () => {
        await node().aq(['reconcile'], { reject: false });
        const s = await node().aq(['status', 'web']);
        return /pull of localhost\/aq-pull-missing:v2 failed 1 time\(s\): a running version stays/.test(s.stdout)
          ? s.stdout
          : undefined;
      },
      90_000,
      1000,
    );
    expect(failed).toMatch(/^web: updating \(wanted: running\)$/m);
    // The old container serves on, untouched, on its old unit file.
    expect(await http(18081)).toBe('ok\n');
    expect(await containerId('web')).toBe(old);
    expect(readFileSync(join(node().unitRoot, 'web/web.container'), 'utf8')).toContain(
      'Image=localhost/busybox:latest',
    );
    const json = (await node().status('web')) as unknown as { converged: boolean; pulls: unknown[] };
    expect(json.converged).toBe(false);
    expect(json.pulls).toMatchObject([{ image: MISSING, state: 'failed', failures: 1 }]);
    // Podman's own words, in explain.
    const x = await node().aq(['explain', 'web']);
    expect(x.stdout).toMatch(
      /-- last pull of each new image \(before an update's switch\)\nweb \(archy-quadlet-pull-web\.service\):\n( {2}\| .*\n)* {2}\| Error: initializing source docker:\/\/localhost\/aq-pull-missing:v2/,
    );

    // A new version whose image is in the store: written, restarted, serving the new page.
    await asUser([
      'bash',
      '-c',
      `set -e; d=$(mktemp -d); printf 'FROM localhost/busybox:latest\\nRUN mkdir -p /www && echo v2 > /www/index.html\\n' > $d/Containerfile; podman build -q -t ${V2} $d >/dev/null; rm -rf $d`,
    ]);
    setImage(V2, 'missing');
    await node().aq(['reconcile']);
    await waitFor('v2 to serve', async () => ((await http(18081)) === 'v2\n' ? true : undefined), 60_000, 500);
    await waitFor(
      'web to be converged, its pull backoff cleared',
      async () => {
        await node().aq(['reconcile'], { reject: false });
        const s = (await node().status('web')) as unknown as { converged: boolean; pulls?: unknown[] };
        return s.converged && !s.pulls ? true : undefined;
      },
      60_000,
      1000,
    );
    expect(await containerId('web')).not.toBe(old);
    await node().aq(['uninstall', 'web', '--wait', '--timeout', '60']);
    await asUser(['podman', 'rmi', '-f', V2], { reject: false });
  }, 240_000);

  it('a pull that takes long runs across passes, never stopped by them, while the old container serves; going back stops it', async () => {
    const sockets: Socket[] = [];
    const server = createServer((sock) => {
      sockets.push(sock);
      sock.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(SLOW_PORT, '127.0.0.1', r));
    const pullUnit = 'archy-quadlet-pull-web.service';
    const pullState = async () =>
      String(
        (await asUser(['systemctl', '--user', 'show', '-P', 'ActiveState,SubState', pullUnit], { reject: false }))
          .stdout,
      )
        .trim()
        .replace(/\n/g, '/');
    try {
      setImage('localhost/busybox:latest', 'never');
      await node().aq(['install', 'web', '--wait', '--timeout', '60']);
      const old = await containerId('web');
      setImage(SLOW, 'missing');
      await node().aq(['reconcile'], { reject: false });
      await waitFor(
        'the pull to hang on the silent registry',
        async () => (sockets.length > 0 ? true : undefined),
        30_000,
      );
      // Passes come and go; the pull runs on, and the old container serves.
      for (let i = 0; i < 3; i++) {
        const r = await node().aq(['reconcile'], { reject: false });
        expect(r.stdout).toMatch(/in progress: .*pulling 127\.0\.0\.1:18099\/aq\/slow:v2/);
        expect(await pullState()).toBe('active/running');
      }
      const s = await node().aq(['status', 'web']);
      expect(s.stdout).toMatch(/^web: updating \(wanted: running\)$/m);
      expect(s.stdout).toMatch(/pulling 127\.0\.0\.1:18099\/aq\/slow:v2/);
      expect(await http(18081)).toBe('ok\n');
      expect(await containerId('web')).toBe(old);
      // The manifest goes back: the pull is no longer needed and is stopped; nothing restarts.
      setImage('localhost/busybox:latest', 'never');
      await waitFor(
        'the pull unit to be gone and web converged',
        async () => {
          await node().aq(['reconcile'], { reject: false });
          const st = (await node().status('web')) as unknown as { converged: boolean };
          const pull = await pullState();
          return st.converged && !pull.startsWith('active') && !pull.startsWith('failed') ? true : undefined;
        },
        60_000,
        1000,
      );
      expect(await containerId('web')).toBe(old);
      await node().aq(['uninstall', 'web', '--wait', '--timeout', '60']);
    } finally {
      for (const sock of sockets) sock.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }, 240_000);
});
