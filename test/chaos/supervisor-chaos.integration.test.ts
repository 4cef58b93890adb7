import { describe, expect } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { AS_USER, requireLab } from '../support/lab.js';
import { asUser } from '../support/lab-user.js';
import { containerId, useLabNode, waitHttp } from '../support/node.js';
import { chaosIt } from './chaos.js';

// Chaos in the supervisor itself: killed mid-install, the user manager re-executed under a
// pass, two passes at the same moment.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

const installed = async (app: string) =>
  JSON.parse((await node().aq(['status', '--json'])).stdout).apps.some((a: { id: string }) => a.id === app);

async function failedUnits(): Promise<string> {
  return String(
    (await asUser(['systemctl', '--user', 'list-units', '--failed', '--plain', '--no-legend'])).stdout,
  ).trim();
}

describe.runIf(enabled)('chaos: the supervisor', () => {
  chaosIt(1, 'kill -9 the supervisor in the middle of an install', 60_000, async (run) => {
    // Steady state: web installed and answering (or, killed before its intent was written,
    // nothing of it at all). Killed at several points of the pass.
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    for (const delayMs of [30, 120, 250, 400, 700]) {
      await node().aq(['uninstall', 'web', '--wait', '--timeout', '60']);
      const p = asUser(['env', `ARCHY_QUADLET_APPS=${node().appsDir}`, 'archy-quadlet', 'install', 'web'], {
        reject: false,
      });
      await new Promise((r) => setTimeout(r, delayMs));
      await asUser(['pkill', '-KILL', '-f', 'archy-quadlet install web'], { reject: false });
      run.broke();
      await p;
      const r = await node().aq(['reconcile'], { reject: false });
      expect(r.exitCode, r.stderr).toBe(0);
      if (await installed('web')) {
        await node().aq(['start', 'web', '--wait', '--timeout', '60']);
        expect(await waitHttp(18081)).toBe('ok\n');
      } else {
        expect(
          existsSync(join(node().unitRoot, 'web')),
          'killed before the intent was written: nothing half-done',
        ).toBe(false);
        await node().aq(['install', 'web', '--wait', '--timeout', '60']);
      }
      run.recovered();
      expect(await failedUnits()).toBe('');
    }
  });

  chaosIt(8, 'the user manager re-executed (daemon-reexec) in the middle of a pass', 60_000, async (run) => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    await node().aq(['install', 'slowstop', '--wait', '--timeout', '60']);
    await node().aq(['install', 'data', '--wait', '--timeout', '60']);
    const before = [await containerId('web'), await containerId('slowstop')];
    for (const delayMs of [50, 200, 400]) {
      await node().aq(['uninstall', 'data', '--wait', '--timeout', '60']);
      const p = node().aq(['install', 'data'], { reject: false });
      await new Promise((r) => setTimeout(r, delayMs));
      run.broke();
      await asUser(['systemctl', '--user', 'daemon-reexec']);
      const first = await p;
      // The interrupted pass may fail, with a message; it never leaves a stack trace.
      expect(first.stderr).not.toMatch(/^\s+at /m);
      await node().aq(['start', 'data', '--wait', '--timeout', '60']);
      expect(await waitHttp(18086, '/log')).toMatch(/\n$/);
      run.recovered();
    }
    // A re-exec restarts nothing: the other apps kept their containers.
    expect([await containerId('web'), await containerId('slowstop')]).toEqual(before);
    expect(await failedUnits()).toBe('');
  });

  chaosIt(10, 'reconcile passes started at the same moment (timer, watcher, CLI)', 15_000, async (run) => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    rmSync(join(node().unitRoot, 'web/web.container'));
    run.broke();
    const pass = () =>
      execa(AS_USER, ['env', `ARCHY_QUADLET_APPS=${node().appsDir}`, 'archy-quadlet', 'reconcile', '--json'], {
        cwd: '/',
        reject: false,
        stdin: 'ignore',
      });
    // Four at once: as the timer, the watcher and two CLI calls could.
    const runs = await Promise.all([pass(), pass(), pass(), pass()]);
    for (const r of runs) expect(r.exitCode, String(r.stderr)).toBe(0);
    const applied = runs.flatMap(
      (r) => JSON.parse(String(r.stdout)).applied as Array<{ kind: string; path?: string; pass?: number }>,
    );
    // One pass restored the file and reloaded; the others were served by it (or by one after
    // it that found nothing to do): the same numbered pass may appear in several reports.
    const writes = applied.filter((s) => s.kind === 'writeUnit');
    expect(writes.map((s) => s.path)).toEqual(writes.map(() => 'web/web.container'));
    expect(new Set(writes.map((s) => s.pass)).size).toBe(1);
    expect(new Set(applied.filter((s) => s.kind === 'daemonReload').map((s) => s.pass)).size).toBe(1);
    expect(
      runs.filter((r) =>
        /another archy-quadlet pass is running|served by the pass of another process/.test(String(r.stderr)),
      ).length,
    ).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(node().unitRoot, 'web/web.container'))).toBe(true);
    expect(await waitHttp(18081)).toBe('ok\n');
    run.recovered();
  });
});
