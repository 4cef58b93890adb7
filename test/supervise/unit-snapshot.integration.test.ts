import { describe, expect, it } from 'vitest';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree, waitFor } from '../support/lab-user.js';
import { useLabNode } from '../support/node.js';

// A pass at rest asks systemd for its units' states only (list-units, one cheap process) and
// takes their details from the last `show` (see src/supervise/unit-snapshot.ts). What changes
// behind its back must still be seen: a container systemd restarted between two passes (its
// restart count), a daemon-reload by hand.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

/** A systemctl that logs its verb, on the PATH of the archy-quadlet run in front of it. */
function systemctlShim(): { dir: string; verbs: () => string[]; clear: () => void } {
  const dir = mkdtempSync('/tmp/aq-snapshot-shim-');
  const log = join(dir, 'calls.log');
  writeFileSync(join(dir, 'systemctl'), `#!/bin/sh\necho "$2" >> ${log}\nexec /usr/bin/systemctl "$@"\n`);
  chmodSync(join(dir, 'systemctl'), 0o755);
  writeFileSync(log, '');
  chownTree(dir, node().user);
  return {
    dir,
    verbs: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    clear: () => writeFileSync(log, ''),
  };
}

describe.runIf(enabled)('the unit snapshot, with a real user manager', () => {
  it('a pass at rest lists its units only; a container restarted behind its back is shown again', async () => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    await waitFor(
      'web to be running',
      async () => ((await node().status('web'))?.state === 'running' ? true : undefined),
      60_000,
      500,
    );
    const shim = systemctlShim();
    const aq = async (args: string[]) =>
      asUser([
        'env',
        `ARCHY_QUADLET_APPS=${node().appsDir}`,
        `PATH=${shim.dir}:/usr/local/bin:/usr/bin:/bin`,
        'archy-quadlet',
        ...args,
      ]);
    try {
      await aq(['reconcile']);
      shim.clear();
      expect(String((await aq(['reconcile'])).stdout)).toMatch(/converged/);
      expect(shim.verbs()).toEqual(['list-units']);
      const before = (JSON.parse(String((await aq(['status', '--json'])).stdout)) as StatusDoc).apps[0]!;
      expect(before.units[0]!.restarts).toBe(0);

      // The container dies; systemd restarts it (Restart=always). No pass runs meanwhile.
      await asUser(['podman', 'kill', 'web']);
      await waitFor(
        'systemd to restart web',
        async () => {
          const r = await asUser(['systemctl', '--user', 'show', '-P', 'NRestarts,ActiveState', 'web.service']);
          const [restarts, state] = String(r.stdout).trim().split('\n');
          return Number(restarts) >= 1 && state === 'active' ? true : undefined;
        },
        60_000,
        250,
      );
      shim.clear();
      const after = (JSON.parse(String((await aq(['status', '--json'])).stdout)) as StatusDoc).apps[0]!;
      // Its state was as before, but its new cid file says it started again: shown, not reused.
      expect(shim.verbs()).toEqual(['list-units', 'show']);
      expect(after.units[0]!.restarts).toBeGreaterThanOrEqual(1);

      // A daemon-reload by hand: every unit is shown again, once; then the pass is at rest again.
      await asUser(['systemctl', '--user', 'daemon-reload']);
      shim.clear();
      await aq(['reconcile']);
      await aq(['reconcile']);
      expect(shim.verbs()).toEqual(['list-units', 'show', 'list-units']);
    } finally {
      rmSync(shim.dir, { recursive: true, force: true });
    }
  }, 180_000);
});

interface StatusDoc {
  apps: Array<{ id: string; units: Array<{ unit: string; restarts: number }> }>;
}
