import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';
import { buildDesired } from '../../src/supervise/desired.js';
import { missingFiles, observe } from '../../src/supervise/observe.js';
import { planSteps } from '../../src/supervise/plan-steps.js';
import { currentView, reconcilePass } from '../../src/supervise/supervisor.js';
import { resolvePaths } from '../../src/paths.js';
import { appDataDir } from '../../src/paths.js';
import type { Desired, Observed } from '../../src/supervise/types.js';
import { app, container, converged, unit } from './fake-systemd.js';
import { fakeNode, type FakeNode } from './fake-adapters.js';

// A bind says whether its source is a directory (made when missing) or a single file (which
// must be there: a missing one holds the app, and is never made, least of all as a directory).

const validator = createManifestValidator();

const manifest = (binds: string) => `schemaVersion: 1
id: fb
name: File binds
version: "1.0.0"
containers:
  - name: web
    image: docker.io/library/busybox:1.36
    binds:
${binds}
`;

const errorsOf = (text: string) => {
  const r = validator.validate(text, '/apps/fb/manifest.yml', 'fb');
  return r.ok ? [] : r.errors.map(formatManifestError);
};

const missingReason = (path: string) =>
  `bind source ${path} is missing (a file: archy-quadlet never creates it): put it there`;

describe('binds: validation of type', () => {
  it('accepts a file bind, relative or absolute, and a directory bind ending in "/"', () => {
    expect(
      errorsOf(
        manifest(`      - source: tor/torrc
        target: /etc/tor/torrc
        type: file
      - source: /etc/hosts
        target: /etc/hosts2
        type: file
      - source: data/
        target: /data
        type: directory`),
      ),
    ).toEqual([]);
  });

  it('refuses a file bind whose source names a directory, at the line of the source', () => {
    expect(
      errorsOf(
        manifest(`      - source: tor/
        target: /etc/tor/torrc
        type: file
      - source: .
        target: /x
        type: file`),
      ),
    ).toEqual([
      '/apps/fb/manifest.yml:9:17: containers[0].binds[0].source: names a directory (it ends in "/" or "."): a bind of type file names a file',
      '/apps/fb/manifest.yml:12:17: containers[0].binds[1].source: names a directory (it ends in "/" or "."): a bind of type file names a file',
    ]);
  });

  it('refuses a type other than directory or file', () => {
    const errors = errorsOf(
      manifest(`      - source: torrc
        target: /etc/tor/torrc
        type: socket`),
    );
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^\/apps\/fb\/manifest\.yml:11:\d+: containers\[0\]\.binds\[0\]\.type: /);
  });
});

describe('binds: desired', () => {
  const paths = resolvePaths({ env: {}, home: '/home/u', bundledAppsDir: '/apps' });
  const desiredOf = (binds: string) => {
    const result = validator.validate(manifest(binds), '/apps/fb/manifest.yml', 'fb');
    expect(result.ok).toBe(true);
    const catalog = new Map([['fb', { id: 'fb', file: '/apps/fb/manifest.yml', dir: '/apps/fb', result }]]);
    const state = { version: 1 as const, apps: { fb: { intent: 'running' as const, installedAt: '' } } };
    return buildDesired(state, catalog, paths).apps[0]!.rendered!;
  };

  it('lists the file binds by host path; makes the directory of a relative one, never the file', () => {
    const data = appDataDir(paths, 'fb');
    const r = desiredOf(`      - source: tor/torrc
        target: /etc/tor/torrc
        type: file
      - source: //etc//hosts
        target: /etc/hosts2
        type: file
        readOnly: true
      - source: top.conf
        target: /top.conf
        type: file
      - source: data
        target: /data
      - source: logs/
        target: /logs
        type: directory`);
    expect(data).toBe('/home/u/.local/share/archy-quadlet/data/fb');
    expect(r.containers[0]!.bindFiles).toEqual(['/etc/hosts', `${data}/top.conf`, `${data}/tor/torrc`]);
    expect(r.dataDirs).toEqual([data, `${data}/data`, `${data}/logs/`, `${data}/tor`]);
    // The unit mounts the same path the supervisor looks at.
    const unitText = r.files.find((f) => f.name.endsWith('.container'))!.content;
    expect(unitText).toContain(`Volume=${data}/tor/torrc:/etc/tor/torrc:rw\n`);
    expect(unitText).toContain('Volume=/etc/hosts:/etc/hosts2:ro\n');
  });

  it('has no file binds when every bind is a directory (the default)', () => {
    const r = desiredOf(`      - source: data
        target: /data`);
    expect(r.containers[0]!.bindFiles).toEqual([]);
    expect(r.dataDirs).toEqual([`${appDataDir(paths, 'fb')}/data`]);
  });
});

describe('binds: planning', () => {
  const withFiles = (files: Record<string, string[]>, requires: Record<string, string[]> = {}): Desired => {
    const a = app('a', 'running', Object.keys(files));
    a.rendered!.containers = Object.entries(files).map(([c, bindFiles]) =>
      container(`a-${c}`, { bindFiles, requires: requires[c] ?? [] }),
    );
    return { apps: [a] };
  };
  const inactive = (d: Desired, state = 'inactive'): Observed => {
    const o = converged(d.apps);
    for (const c of d.apps[0]!.rendered!.containers) o.units[c.service] = unit(state);
    return o;
  };

  it('holds a container whose file bind is missing, naming the path; it is not started', () => {
    const d = withFiles({ web: ['/d/a/torrc', '/d/a/other.conf'] });
    const o = inactive(d);
    o.missingFiles = ['/d/a/torrc'];
    expect(planSteps(d, o)).toEqual([
      { kind: 'wait', app: 'a', unit: 'a-web.service', held: true, reason: missingReason('/d/a/torrc') },
    ]);
    o.missingFiles = [];
    expect(planSteps(d, o)).toEqual([
      { kind: 'start', app: 'a', units: ['a-web.service'], reason: 'app should be running' },
    ]);
  });

  it('names every missing file of the container; a failed unit is neither reset nor counted a failure', () => {
    const d = withFiles({ web: ['/d/a/one', '/d/a/two'] });
    const o = inactive(d, 'failed');
    o.missingFiles = ['/d/a/one', '/d/a/two'];
    expect(planSteps(d, o)).toEqual([
      { kind: 'wait', app: 'a', unit: 'a-web.service', held: true, reason: missingReason('/d/a/one') },
      { kind: 'wait', app: 'a', unit: 'a-web.service', held: true, reason: missingReason('/d/a/two') },
    ]);
  });

  it('a container requiring a held one waits for it (its start would start that one); the others start', () => {
    const d = withFiles({ db: ['/d/a/db.conf'], api: [], other: [] }, { api: ['a-db.service'] });
    const o = inactive(d);
    o.missingFiles = ['/d/a/db.conf'];
    expect(planSteps(d, o)).toEqual([
      { kind: 'wait', app: 'a', unit: 'a-db.service', held: true, reason: missingReason('/d/a/db.conf') },
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-api.service',
        reason: 'waiting for a-db.service: bind source /d/a/db.conf is missing',
      },
      { kind: 'start', app: 'a', units: ['a-other.service'], reason: 'app should be running' },
    ]);
  });

  it('a provider that is down is said first; a running container is never held for its file', () => {
    const d = withFiles({ web: ['/d/a/torrc'] });
    d.apps[0]!.rendered!.containers[0]!.waitsFor = [{ iface: 'bitcoind', provider: 'btc', service: 'btc.service' }];
    const o = inactive(d);
    o.missingFiles = ['/d/a/torrc'];
    expect(planSteps(d, o)).toEqual([
      { kind: 'wait', app: 'a', unit: 'a-web.service', reason: 'waiting for bitcoind (btc is not set up yet)' },
    ]);
    const running = withFiles({ web: ['/d/a/torrc'] });
    const active = converged(running.apps);
    active.missingFiles = ['/d/a/torrc'];
    expect(planSteps(running, active)).toEqual([]);
  });
});

describe('binds: observe', () => {
  let node: FakeNode | undefined;
  let dir: string | undefined;
  afterEach(() => {
    node?.cleanup();
    node = undefined;
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('missingFiles: a file is there; a missing path or a directory is not', async () => {
    dir = mkdtempSync(join(tmpdir(), 'aq-bind-files-'));
    writeFileSync(join(dir, 'file'), 'x');
    mkdirSync(join(dir, 'dir'));
    const paths = ['file', 'dir', 'gone', 'gone/deeper', 'file/under-a-file'].map((p) => join(dir!, p));
    expect(await missingFiles(paths)).toEqual(paths.slice(1));
  });

  it('stats the file binds only of containers about to start: a converged node stats nothing', async () => {
    node = fakeNode();
    node.install('filebind');
    node.install('web');
    const asked: string[][] = [];
    node.sv.missingFiles = async (paths) => {
      asked.push(paths);
      return paths;
    };
    const file = join(appDataDir(node.paths, 'filebind'), 'site/index.html');
    const first = await reconcilePass(node.sv);
    expect(asked.at(-1)).toEqual([file]);
    expect(first.errors).toEqual([{ app: 'filebind', message: missingReason(file) }]);
    node.sv.missingFiles = async (paths) => {
      asked.push(paths);
      return [];
    };
    await reconcilePass(node.sv);
    expect(node.sv.systemctl.units['filebind.service']?.activeState).toBe('active');
    asked.length = 0;
    const { desired, observed } = await currentView(node.sv);
    expect(asked).toEqual([]);
    expect(observed.missingFiles).toBeUndefined();
    const o = await observe(desired, {
      unitRoot: node.paths.unitRoot,
      systemctl: node.sv.systemctl,
      podman: node.sv.podman,
      quadlet: node.sv.quadlet,
      busyPorts: async () => [],
      missingFiles: node.sv.missingFiles,
      clock: node.sv.clock,
      backoff: {},
    });
    expect(asked).toEqual([]);
    expect(o.missingFiles).toBeUndefined();
  });

  it('a pass holds the app while the file is missing, never makes it, and starts it once it is there', async () => {
    node = fakeNode();
    node.install('filebind');
    node.sv.missingFiles = missingFiles;
    const data = appDataDir(node.paths, 'filebind');
    const file = join(data, 'site/index.html');
    const held = await reconcilePass(node.sv);
    expect(held.errors).toEqual([{ app: 'filebind', message: missingReason(file) }]);
    expect(held.pending).toEqual([
      { kind: 'wait', app: 'filebind', unit: 'filebind.service', held: true, reason: missingReason(file) },
    ]);
    expect(held.applied.flat().map((s) => s.step.kind)).not.toContain('start');
    expect(existsSync(file)).toBe(false);
    // A directory where the file should be is no file either.
    mkdirSync(file, { recursive: true });
    expect((await reconcilePass(node.sv)).errors).toEqual([{ app: 'filebind', message: missingReason(file) }]);
    rmSync(file, { recursive: true });
    writeFileSync(file, 'filebind-ok\n');
    const started = await reconcilePass(node.sv);
    expect(started.errors).toEqual([]);
    expect(started.applied.flat().map((s) => s.step.kind)).toContain('start');
    expect(statSync(file).isFile()).toBe(true);
    expect(node.sv.systemctl.units['filebind.service']?.activeState).toBe('active');
  });
});
