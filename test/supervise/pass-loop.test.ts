import { afterEach, describe, expect, it, vi } from 'vitest';
import { existsSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { reconcilePass, requestPass } from '../../src/supervise/supervisor.js';
import { readLedger } from '../../src/supervise/pass-ledger.js';
import { readState } from '../../src/supervise/state-store.js';
import { fakeNode, type FakeNode } from './fake-adapters.js';

// The pass loop's own rules, on plain-data systemd, Podman and Quadlet: what ends a pass.

let node: FakeNode;
afterEach(() => node?.cleanup());

/** What makes systemd flag an outdated unit: its file written after the load (`touch` is enough). */
function outdate(n: FakeNode, id: string): void {
  const later = new Date();
  utimesSync(join(n.paths.unitRoot, id, `${id}.container`), later, later);
  n.sv.systemctl.units[`${id}.service`]!.needDaemonReload = true;
}

describe('reconcilePass', () => {
  it('installs an app in one pass: files, one reload, the start; a second pass does nothing', async () => {
    node = fakeNode();
    node.install('web');
    const first = await reconcilePass(node.sv);
    expect(first.applied.map((b) => b.map((o) => o.step.kind))).toEqual([['writeUnit', 'daemonReload'], ['start']]);
    expect(first.converged).toBe(true);
    expect(existsSync(join(node.paths.unitRoot, 'web/web.container'))).toBe(true);
    const verbs = node.sv.systemctl.verbs.length;
    const second = await reconcilePass(node.sv);
    expect(second.applied).toEqual([]);
    // One systemctl process, and the cheap one: every unit is as it was last shown.
    expect(node.sv.systemctl.verbs.slice(verbs)).toEqual(['list']);
  });

  it('stops after a reload that did not clear systemd\'s "outdated" flag, instead of reloading again', async () => {
    node = fakeNode();
    node.install('web');
    await reconcilePass(node.sv);
    node.sv.systemctl.reloadClearsOutdated = false;
    outdate(node, 'web');
    const before = node.sv.systemctl.verbs.filter((v) => v === 'daemon-reload').length;
    const r = await reconcilePass(node.sv);
    expect(node.sv.systemctl.verbs.filter((v) => v === 'daemon-reload').length - before).toBe(1);
    expect(r.pending.map((s) => s.kind)).toEqual(['daemonReload']);
    expect(r.converged).toBe(false);
  });

  it('after a fruitless reload, still starts the other apps in the same pass and reports the reload as owed', async () => {
    node = fakeNode();
    node.install('web');
    await reconcilePass(node.sv);
    node.sv.systemctl.reloadClearsOutdated = false;
    outdate(node, 'web');
    node.install('slowstop');
    const r = await reconcilePass(node.sv);
    expect(node.sv.systemctl.verbs).toContain('start');
    expect(node.sv.systemctl.units['slowstop.service']?.activeState).toBe('active');
    expect(r.pending.map((s) => s.kind)).toEqual(['daemonReload']);
    expect(r.converged).toBe(false);
  });

  it('records an app settled on new files as its last good set while another app still moves', async () => {
    node = fakeNode();
    node.install('web');
    await reconcilePass(node.sv);
    expect((await readState(node.paths.stateDir)).apps.web?.lastGood).toBeDefined();
    // As an app from before last good sets: running settled, none recorded. Installed beside
    // it, an app whose start fails ends every pass before it has nothing left to do.
    node.install('stack'); // rewrites the state: web without its last good set
    expect((await readState(node.paths.stateDir)).apps.web?.lastGood).toBeUndefined();
    node.sv.systemctl.failStart = true;
    const r = await reconcilePass(node.sv);
    expect(r.applied[r.applied.length - 1]!.every((o) => !o.ok)).toBe(true);
    expect((await readState(node.paths.stateDir)).apps.web?.lastGood).toBeDefined();
    expect((await readState(node.paths.stateDir)).apps.stack?.lastGood).toBeUndefined();
  });

  it('stops after a batch in which every step failed (the next pass tries again)', async () => {
    node = fakeNode();
    node.install('web');
    node.sv.systemctl.failStart = true;
    const r = await reconcilePass(node.sv);
    expect(r.applied.length).toBe(2); // files + reload, then the failed start
    expect(r.applied[1]!.every((o) => !o.ok)).toBe(true);
    expect(node.sv.systemctl.verbs.filter((v) => v === 'start')).toHaveLength(1);
  });

  it('applies at most 8 batches in one pass, whatever the planner keeps asking for', async () => {
    node = fakeNode();
    node.install('web');
    node.sv.systemctl.startLeavesInactive = true;
    const r = await reconcilePass(node.sv);
    expect(r.applied.length).toBe(8);
    expect(r.pending.map((s) => s.kind)).toEqual(['start']);
  });

  it('a dry run plans and changes nothing', async () => {
    node = fakeNode();
    node.install('web');
    const r = await reconcilePass(node.sv, { dryRun: true });
    expect(r.pending.map((s) => s.kind)).toEqual(['writeUnit', 'daemonReload']);
    expect(existsSync(node.paths.unitRoot)).toBe(false);
    expect(node.sv.systemctl.verbs).not.toContain('daemon-reload');
  });

  it('keeps the last good units of an app whose new units Quadlet rejects, and says why', async () => {
    node = fakeNode();
    node.install('web');
    await reconcilePass(node.sv);
    const file = join(node.paths.unitRoot, 'web/web.container');
    const good = readFileSync(file, 'utf8');
    const manifest = join(node.paths.appsDir, 'web/manifest.yml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('hostPort: 18081', 'hostPort: 18082'));
    node.sv.quadlet = Object.assign(node.sv.quadlet, {
      rejections: async (apps: Map<string, unknown>) =>
        apps.has('web') ? { web: 'converting "web.container": unsupported key' } : {},
    });
    const r = await reconcilePass(node.sv);
    expect(readFileSync(file, 'utf8')).toBe(good);
    expect(r.pending).toEqual([
      {
        kind: 'wait',
        app: 'web',
        held: true,
        reason: 'Quadlet rejects the new units (its last good units stay): converting "web.container": unsupported key',
      },
    ]);
    // Held until a person acts: reported as an error (the timer's run shows as failed).
    expect(r.errors).toEqual([{ app: 'web', message: r.pending[0]!.reason }]);
  });
});

describe('requestPass', () => {
  it('works where its lock directory does not exist yet (no $XDG_RUNTIME_DIR: the state directory, before the first install)', async () => {
    node = fakeNode();
    node.install('web');
    const dir = join(node.root, 'not-yet');
    Object.assign(node.sv, {
      lockPath: join(dir, 'a.lock'),
      ledgerPath: join(dir, 'passes.json'),
      stateLockPath: join(dir, 's.lock'),
    });
    expect((await requestPass(node.sv)).converged).toBe(true);
  });

  it('numbers passes in the ledger, and a caller that finds a pass running is served by the next one', async () => {
    node = fakeNode();
    node.install('web');
    const first = await requestPass(node.sv);
    expect(first.converged).toBe(true);
    expect((await readLedger(node.sv.ledgerPath)).completed).toBe(1);
    // Ten callers at once: every one is served, none fails, and far fewer passes than callers run.
    const reports = await Promise.all(Array.from({ length: 10 }, () => requestPass(node.sv)));
    expect(reports.every((r) => r.converged)).toBe(true);
    const ledger = await readLedger(node.sv.ledgerPath);
    expect(ledger.started).toBe(ledger.completed);
    // One pass after the first serves all ten (a little slack for a caller that came late).
    expect(ledger.completed - 1).toBeLessThanOrEqual(3);
    expect(ledger.recent.map((r) => r.seq)).toEqual([...Array(ledger.completed).keys()].map((i) => i + 1));
  });

  it('never serves a caller with a pass that started before it asked; nor across a ledger made afresh', async () => {
    for (const lose of [false, true]) {
      node = fakeNode();
      node.install('web');
      await requestPass(node.sv);
      let release = () => {};
      node.sv.systemctl.gate = new Promise<void>((r) => (release = r));
      const holder = requestPass(node.sv); // runs pass 2, held in its first observe
      await vi.waitFor(async () => expect((await readLedger(node.sv.ledgerPath)).started).toBe(2));
      if (lose) rmSync(node.sv.ledgerPath); // the runtime file lost while a pass runs
      const caller = requestPass(node.sv);
      await new Promise((r) => setTimeout(r, 200));
      node.sv.systemctl.gate = undefined;
      release();
      await Promise.all([holder, caller]);
      // Pass 2 had started before the caller asked: a pass after it had to run.
      expect((await readLedger(node.sv.ledgerPath)).completed).toBe(3);
      node.cleanup();
    }
  });
});
