import { describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { useLabNode, waitHttp } from '../support/node.js';

// A daemon-reload that never happened (the manager re-executed as it came, or the pass was
// killed between writing the files and reloading): the unit file is on disk, unchanged, and
// systemd does not know its unit. The next pass sees it through Quadlet and reloads.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

describe.runIf(enabled)('a lost daemon-reload', () => {
  it('is made good by the next pass: a reload, then the app runs', async () => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    const file = join(node().unitRoot, 'web/web.container');
    await asUser([
      'bash',
      '-c',
      `systemctl --user stop web.service && mv ${file} /tmp/aq-lost.container && systemctl --user daemon-reload && mv /tmp/aq-lost.container ${file}`,
    ]);
    expect(
      String((await asUser(['systemctl', '--user', 'show', '-P', 'LoadState', 'web.service'])).stdout).trim(),
    ).toBe('not-found');
    const r = await node().aq(['reconcile']);
    expect(r.stderr).toMatch(
      /"step":"daemonReload","reason":"systemd has not loaded web.service, which Quadlet generates from the files on disk"/,
    );
    expect(await waitHttp(18081)).toBe('ok\n');
    // The server answers before its health check has passed; until then the unit is
    // `starting` and a pass rightly reports it in progress.
    await waitFor(
      'web to be running',
      async () => ((await node().status('web'))?.state === 'running' ? true : undefined),
      60_000,
      500,
    );
    // Converged: the next pass has nothing to do (no reload loop).
    expect((await node().aq(['reconcile'])).stdout).toMatch(/converged: nothing to do|0 step\(s\) applied; converged/);
  }, 120_000);
});
