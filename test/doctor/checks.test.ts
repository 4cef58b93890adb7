import { describe, expect, it } from 'vitest';
import { runChecks, worstLevel, type DoctorFacts } from '../../src/doctor/checks.js';
import { initBinaryCandidates, initPathOf, rejectedFiles, usesInit } from '../../src/doctor/gather-facts.js';

// A healthy node's facts; each test breaks one.
const node = (): DoctorFacts => ({
  user: 'archy',
  uid: 1001,
  podmanVersion: 'podman version 5.4.2',
  quadletBin: '/usr/libexec/podman/quadlet',
  podmanUserGenerator: true,
  initBinary: { path: '/usr/libexec/podman/catatonit' },
  initApps: [],
  xdgRuntimeDir: '/run/user/1001',
  runtimeDirOk: { exists: true, ownedByUser: true, mode: 0o700 },
  userManager: { state: 'running' },
  sessionBus: { address: 'unix:path=/run/user/1001/bus', socketExists: true },
  initName: 'systemd',
  lingerEnabled: true,
  cgroup: { version: 2, delegated: ['cpu', 'io', 'memory', 'pids'] },
  subuid: 65536,
  subgid: 65536,
  newuidmap: true,
  unprivilegedPortStart: 1024,
  publishedPorts: [{ app: 'web', port: 8080 }],
  unitDir: { path: '/home/archy/.config/containers/systemd', writable: true, exists: true },
  rejectedUnitFiles: [],
  generatorHook: { path: '/etc/systemd/user-generators/archy-quadlet', installed: true, current: true },
  userUnits: [
    {
      unit: 'archy-quadlet-reconcile.timer',
      installed: true,
      current: true,
      active: 'active',
      enabled: 'enabled',
      optional: false,
    },
    { unit: 'archy-quadlet-watch.service', installed: false, current: false, optional: true },
  ],
  state: { ok: true, apps: 1 },
  podmanState: { breakages: [], volumeLabels: { 'web-data': ['io.archipelago.app=web'] } },
  missingSecrets: [],
  catalogs: {
    entryPoints: [{ name: 'archy-quadlet-reconcile.service', catalog: '/srv/catalog', pinned: false }],
    apps: [{ app: 'web', catalog: '/srv/catalog' }],
  },
});

const check = (f: DoctorFacts, id: string) => runChecks(f).find((r) => r.id === id)!;

describe('doctor checks', () => {
  it('passes a healthy node', () => {
    const results = runChecks(node());
    expect(results.filter((r) => r.level !== 'ok')).toEqual([]);
    expect(worstLevel(results)).toBe('ok');
  });

  it.each<[string, (f: DoctorFacts) => void, 'warn' | 'fail' | 'n/a', RegExp]>([
    ['podman', (f) => delete f.podmanVersion, 'fail', /apt install podman/],
    ['podman', (f) => (f.podmanVersion = 'podman version 4.3.1'), 'fail', /upgrade Podman/],
    ['podman', (f) => (f.podmanVersion = 'podman version 5.2.0'), 'warn', /upgrade Podman/],
    [
      'podman-state',
      (f) =>
        (f.podmanState!.breakages = [
          { kind: 'stale-runtime', detail: 'invalid internal status, try resetting the pause process' },
        ]),
      'fail',
      /doctor --fix: stops what is left .* podman system migrate/,
    ],
    [
      'podman-state',
      (f) => (f.podmanState!.breakages = [{ kind: 'lost-volumes', detail: 'lost: web-data', volumes: ['web-data'] }]),
      'fail',
      /doctor --fix: registers each volume again .* owner and mode back/,
    ],
    [
      'podman-state',
      (f) => (f.podmanState!.breakages = [{ kind: 'network-helper-gone', detail: "the namespace's pasta is gone" }]),
      'fail',
      /podman unshare --rootless-netns true.*no container restarts/,
    ],
    [
      'podman-state',
      (f) =>
        (f.podmanState!.breakages = [
          { kind: 'dns-helper-gone', detail: 'aardvark-dns is gone', networks: ['n'], containers: ['c'] },
        ]),
      'fail',
      /podman network reload of one container of ours/,
    ],
    ['quadlet', (f) => delete f.quadletBin, 'fail', /ARCHY_QUADLET_BIN/],
    ['quadlet', (f) => (f.podmanUserGenerator = false), 'fail', /podman-user-generator/],
    ['init', (f) => (f.initBinary = {}), 'warn', /^sudo apt install catatonit$/],
    ['init', (f) => Object.assign(f, { initBinary: {}, initApps: ['immich'] }), 'fail', /^sudo apt install catatonit$/],
    ['runtime-dir', (f) => delete f.xdgRuntimeDir, 'fail', /export XDG_RUNTIME_DIR=\/run\/user\/1001/],
    [
      'runtime-dir',
      (f) => (f.runtimeDirOk = { exists: true, ownedByUser: false, mode: 0o700 }),
      'fail',
      /enable-linger archy/,
    ],
    [
      'user-manager',
      (f) => (f.userManager = { error: 'Failed to connect to bus' }),
      'fail',
      /session with XDG_RUNTIME_DIR/,
    ],
    [
      'user-manager',
      (f) => (f.userManager = { state: 'degraded', failedUnits: ['web.service'] }),
      'warn',
      /explain APP/,
    ],
    ['session-bus', (f) => (f.sessionBus = { socketExists: false }), 'fail', /dbus-user-session/],
    ['linger', (f) => (f.lingerEnabled = false), 'fail', /sudo loginctl enable-linger archy/],
    ['linger', (f) => Object.assign(f, { lingerEnabled: false, initName: 'process_api' }), 'n/a', /./],
    ['cgroups', (f) => (f.cgroup = { version: 1 }), 'warn', /unified_cgroup_hierarchy/],
    ['cgroups', (f) => (f.cgroup = { version: 2, delegated: ['pids'] }), 'warn', /Delegate=cpu cpuset io memory pids/],
    ['subids', (f) => delete f.subuid, 'fail', /usermod --add-subuids/],
    ['subids', (f) => (f.newuidmap = false), 'fail', /apt install uidmap/],
    ['ports', (f) => (f.publishedPorts = [{ app: 'btcpay', port: 80 }]), 'fail', /ip_unprivileged_port_start=80/],
    ['unit-dir', (f) => (f.unitDir.writable = false), 'fail', /chown/],
    [
      'unit-dir',
      (f) =>
        (f.rejectedUnitFiles = [
          { file: '/home/archy/.config/containers/systemd/x.container', error: 'line 3 is not a key-value pair' },
        ]),
      'fail',
      /fix or remove \/home\/archy\/.config\/containers\/systemd\/x.container/,
    ],
    ['boot-hook', (f) => (f.generatorHook.installed = false), 'warn', /sudo archy-quadlet setup --system/],
    ['boot-hook', (f) => (f.generatorHook.current = false), 'warn', /sudo archy-quadlet setup --system/],
    ['reconcile.timer', (f) => (f.userUnits[0]!.installed = false), 'warn', /^archy-quadlet setup$/],
    [
      'reconcile.timer',
      (f) => (f.userUnits[0]!.active = 'inactive'),
      'warn',
      /enable --now archy-quadlet-reconcile.timer/,
    ],
    [
      'state',
      (f) => (f.state = { ok: false, apps: 0, error: 'the state file is unreadable: not JSON' }),
      'fail',
      /state.json.bak/,
    ],
    [
      'secrets',
      (f) => (f.missingSecrets = [{ app: 'immich', secret: 'immich-db-password' }]),
      'fail',
      /archy-quadlet restart immich/,
    ],
  ])('%s: a broken condition is reported with its fix', (id, breakIt, level, fix) => {
    const f = node();
    breakIt(f);
    const r = check(f, id);
    expect(r.level).toBe(level);
    if (level !== 'n/a') expect(r.fix).toMatch(fix);
    expect(worstLevel(runChecks(f))).toBe(level === 'n/a' ? 'ok' : level);
  });
});

describe('doctor: catatonit (init: true)', () => {
  it('names the path it found', () => {
    expect(check(node(), 'init')).toMatchObject({
      level: 'ok',
      title: 'catatonit (init: true)',
      detail: '/usr/libexec/podman/catatonit',
    });
  });

  it('missing: a warning while no installed app uses init: true', () => {
    const f = node();
    f.initBinary = {};
    const r = check(f, 'init');
    expect(r).toMatchObject({ level: 'warn', fix: 'sudo apt install catatonit' });
    expect(r.detail).toMatch(/not installed.*no installed app uses init: true/);
  });

  it('missing: a failure naming the apps that use it', () => {
    const f = node();
    Object.assign(f, { initBinary: {}, initApps: ['immich', 'nextcloud'] });
    const r = check(f, 'init');
    expect(r).toMatchObject({ level: 'fail', fix: 'sudo apt install catatonit' });
    expect(r.detail).toMatch(/immich, nextcloud \(init: true\) cannot start/);
    expect(worstLevel(runChecks(f))).toBe('fail');
  });

  it('missing, the apps unknown (state unreadable): a warning that says so', () => {
    const f = node();
    f.initBinary = {};
    delete f.initApps;
    const r = check(f, 'init');
    expect(r.level).toBe('warn');
    expect(r.detail).toMatch(/could not be read/);
  });

  it("containers.conf's init_path pointing nowhere is named", () => {
    const f = node();
    Object.assign(f, { initBinary: { configured: '/opt/init' }, initApps: ['immich'] });
    const r = check(f, 'init');
    expect(r.level).toBe('fail');
    expect(r.detail).toMatch(/init_path = \/opt\/init/);
    expect(r.fix).toMatch(/sudo apt install catatonit/);
  });

  it('reads init_path as Podman does: [containers] over [engine], a later file over an earlier', () => {
    expect(initPathOf([undefined, '[containers]\nlog_driver = "journald"\n'])).toBeUndefined();
    expect(initPathOf(['[engine]\ninit_path = "/e/init"\n'])).toBe('/e/init');
    expect(initPathOf(['[engine]\ninit_path = "/e/init"\n[containers]\ninit_path = "/c/init"\n'])).toBe('/c/init');
    expect(initPathOf(['[containers]\ninit_path = "/a"\n', "[containers]\n  init_path='/b'\n"])).toBe('/b');
    expect(initPathOf(['[network]\ninit_path = "/n"\n', '[containers]\n# init_path = "/x"\n'])).toBeUndefined();
  });

  it('searches the default path, the helper directories, then PATH', () => {
    const c = initBinaryCandidates('/home/archy/bin:relative:/usr/bin');
    expect(c[0]).toBe('/usr/libexec/podman/catatonit');
    expect(c).toContain('/usr/lib/podman/catatonit');
    expect(c.slice(-2)).toEqual(['/home/archy/bin/catatonit', '/usr/bin/catatonit']);
    expect(new Set(c).size).toBe(c.length);
  });

  it('knows an app uses init from its rendered .container files', () => {
    const unit = (content: string) => [{ name: 'web.container', content }];
    expect(usesInit(unit('[Container]\nImage=x\nRunInit=true\n'))).toBe(true);
    expect(usesInit(unit('[Container]\nImage=x\n'))).toBe(false);
    expect(usesInit([{ name: 'web.volume', content: 'RunInit=true\n' }])).toBe(false);
  });
});

describe('doctor parsing', () => {
  // Read through the one parser of Quadlet's stderr (test/output/quadlet-stderr.test.ts).
  it('reads the files the generator rejected from its log', () => {
    const log = [
      'quadlet-generator[1]: Loading source unit file /u/a.container',
      'quadlet-generator[1]: error loading "/u/bad.container", file contains line 3: “x” which is not a key-value pair, group, or comment',
      "quadlet-generator[1]: converting \"b.network\": unsupported key 'Foo' in group 'Network' in /u/b.network",
      // A warning refuses nothing.
      'quadlet-generator[1]: Warning: c.container specifies the image "nginx" which not a fully qualified image name.',
    ].join('\n');
    expect(rejectedFiles(log)).toEqual([
      { file: '/u/bad.container', error: 'file contains line 3: “x” which is not a key-value pair, group, or comment' },
      { file: '/u/b.network', error: "unsupported key 'Foo' in group 'Network'" },
    ]);
  });
});

describe('catalog', () => {
  const catalogs = (c: DoctorFacts['catalogs']) =>
    runChecks({ ...node(), catalogs: c }).find((x) => x.id === 'catalog');

  it('warns when the boot hook or the timer would read another catalog than an app came from', () => {
    expect(
      catalogs({
        entryPoints: [
          { name: 'the boot hook', catalog: '/usr/lib/node_modules/archy-quadlet/apps', pinned: false },
          { name: 'archy-quadlet-reconcile.service', catalog: '/srv/catalog', pinned: true },
        ],
        apps: [
          { app: 'electrumx', catalog: '/srv/catalog' },
          { app: 'lnd', catalog: '/srv/catalog' },
        ],
      }),
    ).toMatchObject({
      level: 'warn',
      detail:
        'the boot hook reads /usr/lib/node_modules/archy-quadlet/apps, but electrumx, lnd were installed from another catalog',
      fix: 'set catalog: /srv/catalog in ~/.config/archy-quadlet/config.yml (archy-quadlet config shows what is in force)',
    });
    expect(
      catalogs({
        entryPoints: [{ name: 'archy-quadlet-reconcile.service', catalog: '/old', pinned: true }],
        apps: [{ app: 'lnd', catalog: '/srv/catalog' }],
      })?.fix,
    ).toBe(
      'archy-quadlet setup --apps /srv/catalog (or set catalog: /srv/catalog in the configuration and run setup again)',
    );
  });

  it('ok when every entry point reads where the apps came from; n/a without a state', () => {
    expect(
      catalogs({
        entryPoints: [{ name: 'the boot hook', catalog: '/srv/catalog', pinned: false }],
        apps: [{ app: 'lnd', catalog: '/srv/catalog' }],
      })?.level,
    ).toBe('ok');
    expect(catalogs(undefined)?.level).toBe('n/a');
  });
});

describe('config', () => {
  it('fails on a malformed configuration file, naming it; ok when readable', () => {
    const results = runChecks({
      ...node(),
      configProblems: ['/etc/archy-quadlet/config.yml:2: catalog: must be an absolute path'],
    });
    expect(results.find((r) => r.id === 'config')).toMatchObject({
      level: 'fail',
      detail: '/etc/archy-quadlet/config.yml:2: catalog: must be an absolute path',
    });
    expect(runChecks({ ...node(), configProblems: [] }).find((r) => r.id === 'config')?.level).toBe('ok');
  });
});
