import { afterEach, describe, expect, it } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateUnits } from '../../src/boot/generate-units.js';
import { resolvePaths } from '../../src/paths.js';
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
});
