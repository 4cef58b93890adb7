import { describe, expect, it } from 'vitest';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { QUADLET_BIN, requireLab } from '../support/lab.js';
import { asUser } from '../support/lab-user.js';
import { useLabNode, waitHttp } from '../support/node.js';

// The supervisor is the one writer of its unit tree, in the lab: a file with one of our unit
// names that archy-quadlet did not write is never replaced and never started from; the app
// waits and says which file. And `render` on the node only shows what the supervisor would
// write (render --out into the tree is refused).

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

const FOREIGN = `[Unit]
Description=someone else's web unit

[Container]
Image=localhost/busybox:latest
ContainerName=someone-elses-web
Exec=sleep 1000

[Install]
WantedBy=default.target
`;

const show = async (unit: string, prop: string) =>
  String((await asUser(['systemctl', '--user', 'show', '-P', prop, unit])).stdout).trim();

describe.runIf(enabled)('one writer of the unit tree', () => {
  it('holds an app whose unit file name is taken by a file it did not write: the wait names the file; never started from it', async () => {
    const dir = `${node().unitRoot}/web`;
    await asUser(['bash', '-c', `mkdir -p ${dir} && printf "%s" "$1" > ${dir}/web.container`, '_', FOREIGN]);
    // As any other change to the user's units would: systemd now knows web.service from it.
    await asUser(['systemctl', '--user', 'daemon-reload']);
    expect(await show('web.service', 'LoadState')).toBe('loaded');

    const r = await node().aq(['install', 'web', '--json']);
    const out = JSON.parse(r.stdout) as { pending: Array<{ kind: string; path?: string; reason: string }> };
    expect(out.pending).toEqual([
      expect.objectContaining({
        kind: 'wait',
        path: 'web/web.container',
        reason: expect.stringMatching(/was not written by archy-quadlet: move it away/),
      }),
    ]);
    await node().aq(['reconcile'], { reject: false });
    const status = await node().aq(['status', 'web']);
    expect(status.stdout).toMatch(/web: held \(wanted: running\)/);
    expect(status.stdout).toMatch(
      /^ {2}held: web\/web\.container in the unit directory was not written by archy-quadlet/m,
    );
    expect(await show('web.service', 'ExecMainStartTimestampMonotonic')).toBe('0'); // never started
    expect(String((await asUser(['cat', `${dir}/web.container`])).stdout)).toBe(FOREIGN.trimEnd()); // never replaced (execa drops the last newline)
    const render = await node().aq(['render', 'web'], { reject: false });
    expect(render.exitCode).toBe(1);
    expect(render.stderr).toMatch(/web\/web\.container.*not written by archy-quadlet/);

    // The person moves it away: the next pass writes ours and starts the app.
    await asUser(['rm', `${dir}/web.container`]);
    await node().aq(['reconcile']);
    expect(await waitHttp(18081)).toBe('ok\n');
  }, 120_000);

  it('keeps the last good units of an app whose new units the real generator rejects, and says why', async () => {
    // No schema-valid manifest that Quadlet 5.4 rejects is known: a wrapper around the real
    // binary adds a key it rejects to web's files, in staging copies only (never on disk).
    const wrapper = '/tmp/aq-quadlet-rejects-web.sh';
    writeFileSync(
      wrapper,
      `#!/bin/sh\ncase "$QUADLET_UNIT_DIRS" in *archy-quadlet-staging-*)\n  find "$QUADLET_UNIT_DIRS" -name web.container -exec sed -i 's/^\\[Container\\]$/[Container]\\nFrobnicate=1/' {} + ;;\nesac\nexec ${QUADLET_BIN} "$@"\n`,
      { mode: 0o755 },
    );
    const file = `${node().unitRoot}/web/web.container`;
    const good = String((await asUser(['cat', file])).stdout);
    const manifest = join(node().appsDir, 'web/manifest.yml');
    const before = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, before.replace('startTimeout: 60s', 'startTimeout: 61s'));
    try {
      const aq = (args: string[]) =>
        asUser(
          ['env', `ARCHY_QUADLET_APPS=${node().appsDir}`, `ARCHY_QUADLET_BIN=${wrapper}`, 'archy-quadlet', ...args],
          {
            reject: false,
          },
        );
      const r = await aq(['reconcile', '--json']);
      expect(r.exitCode).toBe(1); // held until someone acts: the timer's run shows as failed
      const out = JSON.parse(String(r.stdout)) as { pending: Array<{ kind: string; app: string; reason: string }> };
      const held = out.pending.find((s) => s.kind === 'wait' && s.app === 'web');
      expect(held?.reason).toMatch(
        /^Quadlet rejects the new units \(its last good units stay\): .*unsupported key 'Frobnicate'/,
      );
      expect(held?.reason).not.toMatch(/staging/); // names the unit directory, not a copy gone since
      expect(String((await asUser(['cat', file])).stdout)).toBe(good);
      expect(await waitHttp(18081)).toBe('ok\n'); // still serving on its last good units
      expect((await aq(['render', 'web'])).exitCode).toBe(1);
    } finally {
      writeFileSync(manifest, before);
      rmSync(wrapper, { force: true });
    }
    // Without the rejection, the next pass is back to nothing to do.
    await node().aq(['reconcile']);
    expect(String((await asUser(['cat', file])).stdout)).toBe(good);
  }, 120_000);

  it('render on a node shows what the supervisor would write and writes nothing; --out into its tree is refused', async () => {
    const file = `${node().unitRoot}/web/web.container`;
    const before = String((await asUser(['stat', '-c', '%Y %s', file])).stdout);
    const view = await node().aq(['render', '--diff']);
    expect(view.stdout).toMatch(/^web: unchanged$/m);
    expect(view.stdout).toMatch(/what the supervisor would write/);
    const missing = await node().aq(['render', 'nosuch'], { reject: false });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/nosuch.*not installed/);
    const refused = await node().aq(['render', '--out', node().unitRoot], { reject: false });
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toMatch(/only the supervisor writes there/);
    expect(String((await asUser(['stat', '-c', '%Y %s', file])).stdout)).toBe(before);
  }, 60_000);
});
