import { describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree } from '../support/lab-user.js';
import { useLabNode } from '../support/node.js';

// Ten verbs on ten apps at once, as a node's UI calls them, with the reconcile timer's
// service and the watcher running beside them: every one succeeds (none fails because
// others were busy: one pass serves every caller whose intent was recorded before it
// started). A slow stopper (its PID 1 ignores SIGTERM: a 5 s stop) is among them.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);
const iterations = Number(process.env.ARCHY_ITERATIONS ?? 1);
const apps = Array.from({ length: 9 }, (_, i) => `busy${i}`);

const manifest = (id: string) => `schemaVersion: 1
id: ${id}
name: Lab ${id}
version: "1.0.0"
containers:
  - name: ${id}
    image: localhost/busybox:latest
    pull: never
    command: ["httpd", "-f", "-p", "8080", "-h", "/www"]
    healthcheck:
      http: http://127.0.0.1:8080/
      interval: 1s
      timeout: 2s
    stopSignal: SIGKILL
    stopTimeout: 2s
    startTimeout: 60s
`;

describe.runIf(enabled)('verbs at once', () => {
  it(`ten verbs on different apps at once, the timer and the watcher running, ${iterations} time(s): all succeed`, async () => {
    for (const id of apps) {
      mkdirSync(join(node().appsDir, id));
      writeFileSync(join(node().appsDir, id, 'manifest.yml'), manifest(id));
    }
    chownTree(node().appsDir, node().user);
    // Installs at once, too.
    const installs = await Promise.all(
      [...apps, 'slowstop'].map((id) => node().aq(['install', id, '--wait', '--timeout', '120'], { reject: false })),
    );
    expect(installs.map((r) => [r.exitCode, r.stderr.match(/try again/)?.[0]])).toEqual(
      installs.map(() => [0, undefined]),
    );
    await node().aq(['setup', '--watch']);
    try {
      for (let i = 0; i < iterations; i++) {
        const slow = i % 2 === 0 ? ['stop', 'slowstop'] : ['start', 'slowstop'];
        const verbs = [...apps.map((id, j) => (j % 3 === 2 ? ['stop', id] : ['restart', id])), slow];
        const timer = asUser(['systemctl', '--user', 'start', 'archy-quadlet-reconcile.service'], { reject: false });
        const results = await Promise.all(
          verbs.map((v) => node().aq([...v, '--wait', '--timeout', '120'], { reject: false })),
        );
        await timer;
        const failed = results
          .map((r, j) => ({ verb: verbs[j]!.join(' '), code: r.exitCode, err: r.stderr.slice(-300) }))
          .filter((x) => x.code !== 0);
        expect(failed).toEqual([]);
        // They did not queue for the lock one by one: a pass that started after a verb had
        // recorded its intent served that verb too.
        expect(results.filter((r) => /served by the pass of another process/.test(r.stderr)).length).toBeGreaterThan(0);
        const status = JSON.parse((await node().aq(['status', '--json'])).stdout) as {
          apps: Array<{ id: string; state: string }>;
        };
        const want = Object.fromEntries(verbs.map((v) => [v[1]!, v[0] === 'stop' ? 'stopped' : 'running']));
        expect(Object.fromEntries(status.apps.filter((a) => a.id in want).map((a) => [a.id, a.state]))).toEqual(want);
        // Back to all running for the next round.
        await Promise.all(
          apps.filter((_, j) => j % 3 === 2).map((id) => node().aq(['start', id, '--wait', '--timeout', '120'])),
        );
      }
      const watcher = String(
        (await asUser(['systemctl', '--user', 'is-active', 'archy-quadlet-watch.service'], { reject: false })).stdout,
      ).trim();
      expect(watcher).toBe('active');
    } finally {
      await node().aq(['setup', '--remove'], { reject: false });
    }
  }, 600_000);
});
