import { afterEach, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUnits } from '../../src/boot/generate-units.js';
import { resolvePaths } from '../../src/paths.js';
import { loadDesired } from '../../src/supervise/load-desired.js';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { filesHash } from '../../src/supervise/plan-update.js';
import { writeLastGood } from '../../src/supervise/last-good-store.js';
import { readFileSync } from 'node:fs';
import { QUADLET_BIN, requireLab } from '../support/lab.js';

// The boot hook with the real Quadlet binary as its judge, outside systemd: an app whose new
// units the generator rejects is not overridden (its last good files on disk stay in force),
// while the other stale apps are generated into the early directory.

const enabled = requireLab('quadlet');
let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe.runIf(enabled)('generateUnits', () => {
  it('leaves an app whose new units Quadlet rejects to its last good files, and generates the others', async () => {
    root = mkdtempSync(join(tmpdir(), 'aq-boot-'));
    const appsDir = join(root, 'apps');
    cpSync(new URL('../lab-apps', import.meta.url), appsDir, { recursive: true });
    const paths = resolvePaths({
      env: { XDG_CONFIG_HOME: join(root, 'config'), XDG_STATE_HOME: join(root, 'state') },
      home: root,
      bundledAppsDir: appsDir,
    });
    mkdirSync(paths.stateDir, { recursive: true });
    const installed = { intent: 'running', installedAt: '2026-01-01T00:00:00Z' };
    writeFileSync(
      join(paths.stateDir, 'state.json'),
      JSON.stringify({ version: 1, apps: { web: installed, slowstop: installed } }),
    );
    // A generator that rejects web's files when it checks them (the real binary judges).
    const wrapper = join(root, 'quadlet.sh');
    writeFileSync(
      wrapper,
      `#!/bin/sh\ncase "$QUADLET_UNIT_DIRS" in *archy-quadlet-staging-*)\n  find "$QUADLET_UNIT_DIRS" -name web.container -exec sed -i 's/^\\[Container\\]$/[Container]\\nFrobnicate=1/' {} + ;;\nesac\nexec ${QUADLET_BIN} "$@"\n`,
      { mode: 0o755 },
    );
    const dirs = ['normal', 'early', 'late'].map((d) => join(root, d)) as [string, string, string];
    for (const d of dirs) mkdirSync(d);
    const report = await generateUnits({ paths, dirs, quadletBin: wrapper, runtimeDir: root });
    expect(report.apps).toEqual(['slowstop']);
    expect(report.skipped).toEqual([
      {
        app: 'web',
        why: expect.stringMatching(/^Quadlet rejects its new units \(its last good units stay\): .*Frobnicate/),
      },
    ]);
    expect(existsSync(join(dirs[1], 'slowstop.service'))).toBe(true);
    expect(existsSync(join(dirs[1], 'web.service'))).toBe(false);
  });

  it('generates no unit of an app being adopted whose old containers may still hold its names, nor of one rolling back', async () => {
    root = mkdtempSync(join(tmpdir(), 'aq-boot-'));
    const appsDir = join(root, 'apps');
    cpSync(new URL('../lab-apps', import.meta.url), appsDir, { recursive: true });
    const paths = resolvePaths({
      env: { XDG_CONFIG_HOME: join(root, 'config'), XDG_STATE_HOME: join(root, 'state') },
      home: root,
      bundledAppsDir: appsDir,
    });
    mkdirSync(paths.stateDir, { recursive: true });
    const adopting = (phase: string) => ({
      intent: 'running',
      installedAt: '2026-01-01T00:00:00Z',
      adoption: { phase, startedAt: '2026-01-01T00:00:00Z', containers: [] },
    });
    writeFileSync(
      join(paths.stateDir, 'state.json'),
      JSON.stringify({
        version: 1,
        apps: { keeper: adopting('retiring'), keepstack: adopting('rollingBack'), web: adopting('starting') },
      }),
    );
    const dirs = ['normal', 'early', 'late'].map((d) => join(root, d)) as [string, string, string];
    for (const d of dirs) mkdirSync(d);
    const report = await generateUnits({ paths, dirs, quadletBin: QUADLET_BIN, runtimeDir: root });
    // Once the old containers are out of the way (starting), its units start at boot like any app's.
    expect(report.apps).toEqual(['web']);
    expect(report.skipped.map((s) => s.app).sort()).toEqual(['keeper', 'keepstack']);
    expect(report.skipped[0]!.why).toMatch(/being adopted/);
    expect(existsSync(join(dirs[1], 'keeper.service'))).toBe(false);
  });

  it('boots a rollback on its last good set once its data is back, the failed units only until then', async () => {
    root = mkdtempSync(join(tmpdir(), 'aq-boot-'));
    const appsDir = join(root, 'apps');
    cpSync(new URL('../lab-apps', import.meta.url), appsDir, { recursive: true });
    const paths = resolvePaths({
      env: { XDG_CONFIG_HOME: join(root, 'config'), XDG_STATE_HOME: join(root, 'state') },
      home: root,
      bundledAppsDir: appsDir,
    });
    mkdirSync(paths.stateDir, { recursive: true });
    const installed = { intent: 'running', installedAt: '2026-01-01T00:00:00Z' };
    const writeState = (apps: Record<string, unknown>) =>
      writeFileSync(join(paths.stateDir, 'state.json'), JSON.stringify({ version: 1, apps }));
    writeState({ web: installed });
    // The failed release is what the manifest renders, and its files are on disk; the last
    // good set differs from it by a label.
    const failed = (
      await loadDesired(
        paths,
        { version: 1, apps: { web: installed as never } },
        {
          writeCache: false,
          validator: async () => createManifestValidator(),
          facts: { hostname: 'h', mdnsName: 'h.local', lanAddress: '192.168.1.2', networkSubnet: '10.89.254.0/24' },
        },
      )
    ).apps[0]!.rendered!;
    mkdirSync(join(paths.unitRoot, 'web'), { recursive: true });
    for (const f of failed.files) writeFileSync(join(paths.unitRoot, 'web', f.name), f.content);
    const good = {
      ...failed,
      files: failed.files.map((f) =>
        f.name === 'web.container'
          ? { ...f, content: f.content.replace('[Container]\n', '[Container]\nLabel=lastgood=1\n') }
          : f,
      ),
    };
    const goodHash = filesHash(good.files);
    await writeLastGood(paths.stateDir, 'web', { version: 1, hash: goodHash, rendered: good, recordedAt: 'then' });
    const rollingBack = (more: Record<string, unknown>) => ({
      ...installed,
      lastGood: { hash: goodHash, recordedAt: 'then' },
      update: {
        phase: 'rollingBack',
        toHash: filesHash(failed.files),
        fromHash: goodHash,
        startedAt: 'then',
        switchedAtMs: 0,
        snapshot: { volumes: ['web-data'], at: 'then' },
        ...more,
      },
    });
    const dirs = ['normal', 'early', 'late'].map((d) => join(root, d)) as [string, string, string];
    for (const d of dirs) mkdirSync(d);

    // Its snapshot not put back yet: the failed units boot (the last good one must not start
    // on data the failed one migrated).
    writeState({ web: rollingBack({}) });
    let report = await generateUnits({ paths, dirs, quadletBin: QUADLET_BIN, runtimeDir: root });
    expect(report.apps).toEqual([]);
    expect(report.skipped).toEqual([{ app: 'web', why: expect.stringMatching(/under way \(rollingBack\)/) }]);

    // Put back: the last good set boots, not the failed release on the restored data.
    writeState({ web: rollingBack({ restored: true }) });
    report = await generateUnits({ paths, dirs, quadletBin: QUADLET_BIN, runtimeDir: root });
    expect(report.apps).toEqual(['web']);
    expect(readFileSync(join(dirs[1], 'web.service'), 'utf8')).toMatch(/lastgood=1/);

    // Not for an app stopped meanwhile: its files on disk keep it stopped across the reboot.
    writeState({ web: { ...rollingBack({ restored: true }), intent: 'stopped' } });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    for (const d of dirs) mkdirSync(d);
    report = await generateUnits({ paths, dirs, quadletBin: QUADLET_BIN, runtimeDir: root });
    expect(report.apps).toEqual([]);
    expect(existsSync(join(dirs[1], 'web.service'))).toBe(false);
    writeState({ web: rollingBack({ restored: true }) });

    // So too when the manifest changed since (that update is a pass's to make, through its gate).
    const manifest = join(appsDir, 'web', 'manifest.yml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace(/^version: .*$/m, 'version: "9.9.9"'));
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    for (const d of dirs) mkdirSync(d);
    report = await generateUnits({ paths, dirs, quadletBin: QUADLET_BIN, runtimeDir: root });
    expect(report.apps).toEqual(['web']);
    expect(readFileSync(join(dirs[1], 'web.service'), 'utf8')).toMatch(/lastgood=1/);
  });
});
