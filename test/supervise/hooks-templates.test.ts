import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';
import { loadCatalogApp } from '../../src/catalog/load-catalog.js';
import { buildDesired, hookUnit } from '../../src/supervise/desired.js';
import { planSteps } from '../../src/supervise/plan-steps.js';
import { resolvePaths } from '../../src/paths.js';
import type { RenderLinks } from '../../src/graph/app-graph.js';
import type { DesiredApp, DesiredHook, Observed } from '../../src/supervise/types.js';
import { app, container, converged, S, unit } from './fake-systemd.js';

// Init containers (oneshot), environment files, a container of its own network, config
// files rendered from templates, and hooks: validation with file and line, what is rendered,
// and what the planner does with them. The lab proves them through real containers
// (hooks-templates.integration.test.ts, render/compose-keys.integration.test.ts).

const validator = createManifestValidator();
const paths = resolvePaths({ env: {}, home: '/home/u', bundledAppsDir: '/apps' });

const errorsOf = (text: string) => {
  const r = validator.validate(text, '/apps/hk/manifest.yml', 'hk');
  return r.ok ? [] : r.errors.map(formatManifestError);
};

const BASE = `schemaVersion: 1
id: hk
name: Hooks
version: "1.0.0"
`;

describe('validation', () => {
  it('refuses what an init container cannot have, at each field', () => {
    expect(
      errorsOf(`${BASE}containers:
  - name: migrate
    image: docker.io/library/busybox:1.36
    oneshot: true
    restart: always
    ports: [{ containerPort: 80, hostPort: 8080 }]
    healthcheck: { tcp: 80 }
`),
    ).toEqual([
      '/apps/hk/manifest.yml:9:14: containers[0].restart: an init container (oneshot) is not restarted: a failed run is retried with backoff',
      '/apps/hk/manifest.yml:10:12: containers[0].ports: an init container (oneshot) publishes no ports',
      '/apps/hk/manifest.yml:11:18: containers[0].healthcheck: an init container (oneshot) has no health check: it runs to completion',
    ]);
  });

  it('refuses hooks in a missing or init container, and timeouts out of range', () => {
    expect(
      errorsOf(`${BASE}hooks:
  postInstall: { container: nope, command: "true" }
  postStart: { container: migrate, command: ["true"], timeout: 500ms }
  preUninstall: { container: web, command: "x", timeout: 25h }
containers:
  - name: migrate
    image: docker.io/library/busybox:1.36
    oneshot: true
  - name: web
    image: docker.io/library/busybox:1.36
`),
    ).toEqual([
      '/apps/hk/manifest.yml:6:29: hooks.postInstall.container: no container named "nope" in this app',
      '/apps/hk/manifest.yml:7:27: hooks.postStart.container: "migrate" is an init container (oneshot): a hook runs in a container that keeps running',
      '/apps/hk/manifest.yml:7:64: hooks.postStart.timeout: must be at least 1s',
      '/apps/hk/manifest.yml:8:58: hooks.preUninstall.timeout: must be at most 24h',
    ]);
  });

  it('refuses an unknown hook point (preStart: an init container is the way)', () => {
    const errors = errorsOf(`${BASE}hooks:
  preStart: { container: web, command: "true" }
containers:
  - name: web
    image: docker.io/library/busybox:1.36
`);
    expect(errors).toEqual(['/apps/hk/manifest.yml:6:3: hooks.preStart: unknown field "preStart"']);
  });

  it('refuses a host-network container that publishes, has aliases, serves or uses an interface', () => {
    expect(
      errorsOf(`${BASE}provides:
  web: { container: web, port: 80 }
requires:
  bitcoind: {}
containers:
  - name: web
    image: docker.io/library/busybox:1.36
    network: host
    ports: [{ containerPort: 80 }]
    networkAliases: [www]
  - name: db
    image: docker.io/library/busybox:1.36
`),
    ).toEqual([
      '/apps/hk/manifest.yml:6:21: provides.web.container: "web" has network: host: it cannot join the node network that links apps',
      '/apps/hk/manifest.yml:12:14: containers[0].network: a container with network: host cannot use bitcoind (the node network links apps): list the containers that use it under requires.bitcoind.containers',
      '/apps/hk/manifest.yml:13:12: containers[0].ports: cannot publish ports with network: host',
      "/apps/hk/manifest.yml:14:21: containers[0].networkAliases: cannot have aliases with network: host (aliases live on the app's own network)",
    ]);
  });

  it('refuses ".." in environment files and templates, and a template target used twice', () => {
    expect(
      errorsOf(`${BASE}containers:
  - name: web
    image: docker.io/library/busybox:1.36
    environmentFiles: [../x.env]
    templates:
      - { template: ../t.tmpl, target: /etc/a }
      - { template: t.tmpl, target: /etc/a }
`),
    ).toEqual([
      '/apps/hk/manifest.yml:8:24: containers[0].environmentFiles[0]: must not contain ".." (path traversal)',
      '/apps/hk/manifest.yml:10:21: containers[0].templates[0].template: must stay inside the app\'s folder (no "..")',
      '/apps/hk/manifest.yml:11:37: containers[0].templates[1].target: mount point /etc/a is already used by templates[0]',
    ]);
  });
});

describe('templates: loaded with the manifest, errors at their own file and line', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const catalogWith = (template: string | undefined) => {
    dir = mkdtempSync(join(tmpdir(), 'aq-tmpl-'));
    mkdirSync(join(dir, 'hk'));
    writeFileSync(
      join(dir, 'hk', 'manifest.yml'),
      `${BASE}secrets:
  pw: {}
containers:
  - name: web
    image: docker.io/library/busybox:1.36
    templates:
      - template: conf.tmpl
        target: /etc/conf
`,
    );
    if (template !== undefined) writeFileSync(join(dir, 'hk', 'conf.tmpl'), template);
    return dir;
  };

  it('reads the template into the app', async () => {
    const d = catalogWith('rpcauth={{rpcauth archy pw}}\n');
    const entry = await loadCatalogApp(d, 'hk', validator);
    expect(entry.result.ok && entry.result.app.templateTexts).toEqual({
      'conf.tmpl': 'rpcauth={{rpcauth archy pw}}\n',
    });
  });

  it('a missing template is an error at the manifest line; a bad placeholder at the template line', async () => {
    let entry = await loadCatalogApp(catalogWith(undefined), 'hk', validator);
    expect(entry.result.ok ? [] : entry.result.errors.map(formatManifestError)).toEqual([
      `${dir}/hk/manifest.yml:11:19: containers[0].templates[0].template: template ${dir}/hk/conf.tmpl does not exist`,
    ]);
    rmSync(dir!, { recursive: true, force: true });
    entry = await loadCatalogApp(catalogWith('# ok\nx={{node.nope}}\n'), 'hk', validator);
    const errors = entry.result.ok ? [] : entry.result.errors.map(formatManifestError);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(
      new RegExp(`^${dir}/hk/conf\\.tmpl:2:3: containers\\[0\\]\\.templates\\[0\\]: unknown node fact`),
    );
    rmSync(dir!, { recursive: true, force: true });
    entry = await loadCatalogApp(catalogWith('# ok\nuser={{secret nope}}\n'), 'hk', validator);
    expect(entry.result.ok ? [] : entry.result.errors.map(formatManifestError)).toEqual([
      `${dir}/hk/conf.tmpl:2:6: containers[0].templates[0]: secret "nope" is not declared under secrets`,
    ]);
  });
});

describe('rendering', () => {
  const rendered = (text: string, links?: RenderLinks, templateTexts?: Record<string, string>) => {
    const result = validator.validate(text, '/apps/hk/manifest.yml', 'hk');
    if (!result.ok) throw new Error(result.errors.map(formatManifestError).join('\n'));
    const app = templateTexts ? { ...result.app, templateTexts } : result.app;
    const catalog = new Map([
      ['hk', { id: 'hk', file: '/apps/hk/manifest.yml', dir: '/apps/hk', result: { ...result, app } }],
    ]);
    const state = { version: 1 as const, apps: { hk: { intent: 'running' as const, installedAt: 'T1' } } };
    const d = buildDesired(state, catalog, paths, links ? new Map([['hk', links]]) : new Map()).apps[0]!;
    if (!d.rendered) throw new Error(d.error);
    return d.rendered;
  };
  const unitOf = (r: ReturnType<typeof rendered>, name: string) => r.files.find((f) => f.name === name)!.content;

  it('an init container is a oneshot the others require, but not those it depends on', () => {
    const r = rendered(`${BASE}containers:
  - name: db
    image: docker.io/library/busybox:1.36
  - name: migrate
    image: docker.io/library/busybox:1.36
    oneshot: true
    dependsOn: { db: hard }
  - name: web
    image: docker.io/library/busybox:1.36
`);
    const migrate = unitOf(r, 'hk-migrate.container');
    expect(migrate).toContain('[Service]\nType=oneshot\nRemainAfterExit=yes\nRestart=no\nTimeoutStartSec=900\n');
    expect(migrate).toContain('Requires=hk-db.service\nAfter=hk-db.service\n');
    expect(unitOf(r, 'hk-web.container')).toContain('Requires=hk-migrate.service\nAfter=hk-migrate.service\n');
    expect(unitOf(r, 'hk-db.container')).not.toContain('hk-migrate');
    expect(r.containers.map((c) => [c.service, c.oneshot ?? false, c.requires])).toEqual([
      ['hk-db.service', false, []],
      ['hk-migrate.service', true, ['hk-db.service']],
      ['hk-web.service', false, ['hk-migrate.service']],
    ]);
  });

  it('environment files by absolute path (relative to the app folder); a container of its own network', () => {
    const r = rendered(`${BASE}containers:
  - name: web
    image: docker.io/library/busybox:1.36
    environmentFiles: [web.env, /etc/archy/extra.env]
    network: host
  - name: db
    image: docker.io/library/busybox:1.36
`);
    const web = unitOf(r, 'hk-web.container');
    expect(web).toContain('Network=host\n');
    expect(web).toContain('EnvironmentFile=/apps/hk/web.env\nEnvironmentFile=/etc/archy/extra.env\n');
    expect(unitOf(r, 'hk-db.container')).toContain('Network=hk.network:alias=db\n');
    expect(r.containers.find((c) => c.service === 'hk-web.service')!.envFiles).toEqual([
      '/apps/hk/web.env',
      '/etc/archy/extra.env',
    ]);
  });

  it('a template: a secret mount and a label keyed by its inputs, never the output', () => {
    const text = `${BASE}secrets:
  pw: {}
containers:
  - name: web
    image: docker.io/library/busybox:1.36
    templates:
      - { template: conf.tmpl, target: /etc/conf, uid: 100, mode: "0440" }
`;
    const tmpl = { 'conf.tmpl': 'host={{node.hostname}}\nrpcauth={{rpcauth archy pw}}\n' };
    const links = (id: string, hostname = 'node1'): RenderLinks => ({
      network: 'archy-node',
      facts: { hostname },
      providers: {},
      ownSecretIds: { 'hk-pw': id },
    });
    const r = rendered(text, links('a'.repeat(64)), tmpl);
    const web = unitOf(r, 'hk-web.container');
    expect(web).toMatch(/^Secret="hk-web-tmpl-[0-9a-f]{8},type=mount,target=\/etc\/conf,uid=100,gid=0,mode=0440"$/m);
    const label = /^Label="io\.archipelago\.templates=([0-9a-f]{12})"$/m.exec(web)?.[1];
    expect(label).toBeDefined();
    const t = r.containers[0]!.templates![0]!;
    expect(t).toMatchObject({ template: '/apps/hk/conf.tmpl', secrets: { pw: 'hk-pw' }, facts: { hostname: 'node1' } });
    expect(t.inputKey.slice(0, 12)).toBe(label);
    // A re-created secret, a new host name, a changed template: each changes the unit.
    for (const other of [
      rendered(text, links('b'.repeat(64)), tmpl),
      rendered(text, links('a'.repeat(64), 'node2'), tmpl),
      rendered(text, links('a'.repeat(64)), { 'conf.tmpl': 'rpcauth={{rpcauth archy pw}}\n' }),
    ])
      expect(unitOf(other, 'hk-web.container')).not.toBe(web);
    expect(rendered(text, links('a'.repeat(64)), tmpl).files).toEqual(r.files);
  });

  it("a template may read a provider's secret: by its Podman name, keyed by its id", () => {
    const text = `${BASE}requires:
  bitcoind: {}
containers:
  - name: web
    image: docker.io/library/busybox:1.36
    templates:
      - { template: lnd.conf.tmpl, target: /run/lnd/lnd.conf }
`;
    const tmpl = { 'lnd.conf.tmpl': '[Bitcoind]\nbitcoind.rpcpass={{secret bitcoind.rpc-password}}\n' };
    const links = (id: string): RenderLinks => ({
      network: 'archy-node',
      facts: {},
      providers: {
        bitcoind: {
          app: 'btc',
          service: 'btc.service',
          port: 8332,
          secrets: { 'rpc-password': 'btc-rpc-password' },
          volumes: {},
          default: true,
          secretIds: { 'btc-rpc-password': id }, // keyed by Podman name, as linksOf makes it
        },
      },
    });
    const r = rendered(text, links('1'.repeat(64)), tmpl);
    expect(r.containers[0]!.templates![0]!.secrets).toEqual({ 'bitcoind.rpc-password': 'btc-rpc-password' });
    expect(unitOf(r, 'hk-web.container')).not.toContain('Secret="btc-rpc-password');
    expect(unitOf(rendered(text, links('2'.repeat(64)), tmpl), 'hk-web.container')).not.toBe(
      unitOf(r, 'hk-web.container'),
    );
  });

  it('hooks: podman exec in the named container, in a transient unit of their own', () => {
    const r = rendered(`${BASE}hooks:
  postInstall: { container: web, command: "lncli create\\n", user: "1000", timeout: 2m }
  preUninstall: { container: web, command: [sh, -c, "echo bye"] }
containers:
  - name: web
    image: docker.io/library/busybox:1.36
`);
    expect(r.hooks).toEqual([
      {
        point: 'postInstall',
        unit: 'archy-quadlet-hook-hk-post-install.service',
        container: 'hk-web',
        service: 'hk-web.service',
        argv: ['podman', 'exec', '--user', '1000', 'hk-web', '/bin/sh', '-c', 'lncli create\n'],
        timeoutSec: 120,
      },
      {
        point: 'preUninstall',
        unit: 'archy-quadlet-hook-hk-pre-uninstall.service',
        container: 'hk-web',
        service: 'hk-web.service',
        argv: ['podman', 'exec', 'hk-web', 'sh', '-c', 'echo bye'],
        timeoutSec: 300,
      },
    ]);
  });
});

describe('planning init containers', () => {
  it('while a failed init container backs off, the containers that require it wait (their start would run it)', () => {
    const a = app('a', 'running', ['migrate', 'web']);
    a.rendered!.containers = [
      container('a-migrate', { oneshot: true }),
      container('a-web', { requires: ['a-migrate.service'] }),
    ];
    const o = converged([a], 'inactive');
    o.units['a-migrate.service'] = unit('failed');
    o.backoff['a-migrate.service'] = { failures: 1, notBeforeMs: o.nowMs + 4000 };
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-migrate.service',
        reason: 'backing off after 1 failure(s): next start in 4 s',
      },
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-web.service',
        reason: 'waiting for a-migrate.service (backing off after a failure)',
      },
    ]);
    o.backoff['a-migrate.service']!.notBeforeMs = o.nowMs - 1;
    expect(planSteps({ apps: [a] }, o).find((s) => s.kind === 'start')).toMatchObject({
      units: ['a-migrate.service', 'a-web.service'],
    });
  });

  it('refuses init containers whose implicit requirements close a loop', () => {
    expect(
      errorsOf(`${BASE}containers:
  - name: db
    image: docker.io/library/busybox:1.36
  - name: cache
    image: docker.io/library/busybox:1.36
  - name: inita
    image: docker.io/library/busybox:1.36
    oneshot: true
    dependsOn: { db: hard }
  - name: initb
    image: docker.io/library/busybox:1.36
    oneshot: true
    dependsOn: { cache: hard }
`),
    ).toEqual([
      '/apps/hk/manifest.yml:6:5: containers[0].dependsOn: dependency cycle: db → initb → cache → inita → db (each container requires the init containers that do not depend on it)',
    ]);
  });
});

describe('planning environment files', () => {
  it('a missing environment file holds its container, naming the path; a container requiring it waits', () => {
    const a = app('a', 'running', ['db', 'web']);
    a.rendered!.containers = [
      container('a-db', { envFiles: ['/apps/a/db.env'] }),
      container('a-web', { requires: ['a-db.service'] }),
    ];
    const o = converged([a], 'inactive');
    o.missingFiles = ['/apps/a/db.env'];
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-db.service',
        held: true,
        reason: 'environment file /apps/a/db.env is missing: put it there',
      },
      {
        kind: 'wait',
        app: 'a',
        unit: 'a-web.service',
        reason: 'waiting for a-db.service: environment file /apps/a/db.env is missing',
      },
    ]);
  });
});

describe('planning templates', () => {
  const withTemplate = (): DesiredApp => {
    const a = app('a', 'running', ['web']);
    a.rendered!.containers[0] = container('a-web', {
      templates: [
        { secret: 'a-web-tmpl-1', template: '/apps/a/t', inputKey: 'K2', secrets: { pw: 'a-pw' }, facts: {} },
      ],
    });
    return a;
  };
  const render = {
    kind: 'renderTemplate',
    app: 'a',
    secret: 'a-web-tmpl-1',
    template: '/apps/a/t',
    inputKey: 'K2',
    secrets: { pw: 'a-pw' },
    facts: {},
  };

  it('renders before a start or the restart its unit file asks for, which wait for the next batch', () => {
    const a = withTemplate();
    const o = converged([a], 'inactive');
    o.templateInputs = {};
    o.secrets = { 'a-web-tmpl-1': 'a' };
    const rendering = {
      kind: 'wait',
      app: 'a',
      unit: 'a-web.service',
      reason: 'its config files are being rendered first',
    };
    expect(planSteps({ apps: [a] }, o)).toEqual([
      { ...render, reason: 'template, a secret or a fact it reads changed' },
      rendering,
    ]);
    // Rendered and recorded: it starts.
    o.templateInputs = { 'a-web-tmpl-1': 'K2' };
    expect(planSteps({ apps: [a] }, o)).toEqual([
      { kind: 'start', app: 'a', units: ['a-web.service'], reason: 'app should be running' },
    ]);
    const running = converged([a]);
    running.templateInputs = { 'a-web-tmpl-1': 'K1' };
    running.secrets = { 'a-web-tmpl-1': 'a' };
    running.files.a![0]!.mtimeMono = 200 * S; // changed after the start at 100 s
    expect(planSteps({ apps: [a] }, running)).toEqual([
      { ...render, reason: 'template, a secret or a fact it reads changed' },
      rendering,
    ]);
    // A render that failed left the old key: rendered again, and the container still waits.
    expect(planSteps({ apps: [a] }, running)).toEqual(planSteps({ apps: [a] }, running));
    running.templateInputs = { 'a-web-tmpl-1': 'K2' };
    expect(planSteps({ apps: [a] }, running)).toEqual([
      { kind: 'restart', app: 'a', units: ['a-web.service'], reason: 'unit file changed since it started' },
    ]);
    // Not started (its provider is down): rendered only when it is about to start.
    const waiting = converged([a], 'inactive');
    waiting.templateInputs = {};
    waiting.secrets = { 'a-web-tmpl-1': 'a' };
    a.rendered!.containers[0]!.waitsFor = [{ iface: 'bitcoind', provider: 'btc', service: 'btc.service' }];
    expect(planSteps({ apps: [a] }, waiting).map((s) => s.kind)).toEqual(['wait']);
  });

  it('a failed container waiting for its file is neither reset nor counted a failure yet; no hook runs in it', () => {
    const a = withTemplate();
    a.rendered!.hooks = [
      {
        point: 'postUpdate',
        unit: hookUnit('a', 'postUpdate'),
        container: 'a-web',
        service: 'a-web.service',
        argv: ['true'],
        timeoutSec: 5,
      },
    ];
    a.rendered!.version = '2.0';
    a.installedVersion = '1.0';
    const failed = converged([a], 'failed');
    failed.templateInputs = {};
    failed.secrets = { 'a-web-tmpl-1': 'a' };
    expect(planSteps({ apps: [a] }, failed).map((s) => s.kind)).toEqual(['renderTemplate', 'wait']);
    // Running the old version, its unit changed and its file stale: the update's hook waits for the new container.
    const running = converged([a]);
    running.templateInputs = { 'a-web-tmpl-1': 'K1' };
    running.secrets = { 'a-web-tmpl-1': 'a' };
    running.files.a![0]!.mtimeMono = 200 * S;
    expect(planSteps({ apps: [a] }, running).map((s) => s.kind)).toEqual(['renderTemplate', 'wait']);
  });

  it('an app held on a broken manifest keeps its rendered files', () => {
    const a = withTemplate();
    const o = converged([a]);
    o.templateInputs = { 'a-web-tmpl-1': 'K2' };
    o.secrets = { 'a-web-tmpl-1': 'a' };
    const { rendered: _r, ...held } = a;
    expect(
      planSteps({ apps: [{ ...held, error: 'manifest broken' }] }, o).filter((s) => s.kind === 'removeRenderedFile'),
    ).toEqual([]);
  });

  it('a rendered file goes when it is no longer rendered, and with its app (purge or not)', () => {
    const a = withTemplate();
    const o = converged([a]);
    o.templateInputs = { 'a-web-tmpl-1': 'K2', 'a-old-tmpl-2': 'K0', 'b-web-tmpl-3': 'K9' };
    o.secrets = { 'a-web-tmpl-1': 'a', 'a-old-tmpl-2': 'a', 'b-web-tmpl-3': 'b' };
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'removeRenderedFile',
        app: 'a',
        secret: 'a-old-tmpl-2',
        reason: 'config file no longer rendered from the manifest',
      },
    ]);
    const gone = { ...a, intent: 'absent' as const };
    const after = converged([a], 'inactive');
    after.files = {};
    for (const u of Object.keys(after.units)) after.units[u] = unit('inactive');
    after.templateInputs = o.templateInputs;
    after.secrets = { ...o.secrets, 'a-pw': 'a' };
    expect(planSteps({ apps: [gone] }, after)).toEqual([
      { kind: 'removeRenderedFile', app: 'a', secret: 'a-old-tmpl-2', reason: 'config file of an uninstalled app' },
      { kind: 'removeRenderedFile', app: 'a', secret: 'a-web-tmpl-1', reason: 'config file of an uninstalled app' },
    ]);
    expect(
      planSteps({ apps: [{ ...gone, purge: true }] }, after).map((s) => `${s.kind} ${'secret' in s ? s.secret : ''}`),
    ).toEqual(['removeRenderedFile a-old-tmpl-2', 'removeRenderedFile a-web-tmpl-1', 'removeSecret a-pw']);
  });

  it('nothing while it runs on a current file; again when its secret is gone; never while secrets are made', () => {
    const a = withTemplate();
    const o = converged([a]);
    o.templateInputs = { 'a-web-tmpl-1': 'K2' };
    o.secrets = { 'a-web-tmpl-1': 'a' };
    expect(planSteps({ apps: [a] }, o)).toEqual([]);
    o.secrets = {};
    expect(planSteps({ apps: [a] }, o)).toEqual([{ ...render, reason: 'rendered config file missing' }]);
    a.rendered!.secrets = [{ name: 'a-pw', key: 'pw', length: 32, alphabet: 'hex' }];
    const inactive = converged([a], 'inactive');
    inactive.secrets = {};
    inactive.templateInputs = {};
    expect(planSteps({ apps: [a] }, inactive).map((s) => s.kind)).toEqual(['ensureSecret', 'wait']);
  });
});

describe('planning hooks', () => {
  const HOOK = (point: DesiredHook['point']): DesiredHook => ({
    point,
    unit: hookUnit('a', point),
    container: 'a-web',
    service: 'a-web.service',
    argv: ['podman', 'exec', 'a-web', 'true'],
    timeoutSec: 60,
  });
  const withHooks = (points: DesiredHook['point'][], extra: Partial<DesiredApp> = {}): DesiredApp => {
    const a = app('a', 'running', ['web'], { installedAt: 'T1', ...extra });
    a.rendered!.hooks = points.map(HOOK);
    a.rendered!.version = '2.0';
    return a;
  };
  const run = (point: DesiredHook['point'], key: string) => ({
    kind: 'runHook',
    app: 'a',
    point,
    unit: hookUnit('a', point),
    argv: ['podman', 'exec', 'a-web', 'true'],
    timeoutSec: 60,
    key,
    reason: `${point === 'postInstall' ? 'post-install' : point === 'postStart' ? 'post-start' : 'post-update'} hook due (${key})`,
  });
  const hookUnitState = (state: string, key: string, extra = {}) => unit(state, { hookKey: key, ...extra });

  it('one at a time, in order, once the container runs: install, then the version seen, then the start', () => {
    let a = withHooks(['postInstall', 'postUpdate', 'postStart']);
    const o = converged([a]);
    expect(planSteps({ apps: [a] }, o)).toEqual([run('postInstall', 'install T1')]);
    a = withHooks(['postInstall', 'postUpdate', 'postStart'], { hooksDone: { postInstall: 'install T1' } });
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'hookDone',
        app: 'a',
        point: 'postUpdate',
        key: 'version 2.0',
        reason: 'installed at this version: no update yet',
      },
    ]);
    a.hooksDone!.postUpdate = 'version 1.0';
    expect(planSteps({ apps: [a] }, o)).toEqual([run('postUpdate', 'version 2.0')]);
    a.hooksDone!.postUpdate = 'version 2.0';
    expect(planSteps({ apps: [a] }, o)).toEqual([run('postStart', `start ${100 * S}`)]);
    // Installed at 1.0 (recorded at install): 2.0 is an update, even the first time a postUpdate hook is seen.
    const updated = withHooks(['postUpdate'], { installedVersion: '1.0' });
    expect(planSteps({ apps: [updated] }, o)).toEqual([run('postUpdate', 'version 2.0')]);
    expect(planSteps({ apps: [withHooks(['postUpdate'], { installedVersion: '2.0' })] }, o)).toEqual([]);
    // Not while the container starts or is about to restart.
    expect(planSteps({ apps: [withHooks(['postInstall'])] }, converged([a], 'inactive')).map((s) => s.kind)).toEqual([
      'start',
    ]);
  });

  it('reads the result: done when it exited 0 for this occasion; waits while it runs', () => {
    const a = withHooks(['postInstall']);
    const o = converged([a]);
    o.units[hookUnit('a', 'postInstall')] = hookUnitState('activating', 'install T1');
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'wait',
        app: 'a',
        unit: hookUnit('a', 'postInstall'),
        reason: 'post-install hook running in a-web (at most 60 s)',
      },
    ]);
    o.units[hookUnit('a', 'postInstall')] = hookUnitState('active', 'install T1', { subState: 'exited' });
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'hookDone',
        app: 'a',
        point: 'postInstall',
        key: 'install T1',
        unit: hookUnit('a', 'postInstall'),
        reason: 'post-install hook succeeded',
      },
    ]);
    // A result of another occasion is cleared away, never taken for this one.
    o.units[hookUnit('a', 'postInstall')] = hookUnitState('active', 'install T0', { subState: 'exited' });
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'stop',
        app: 'a',
        units: [hookUnit('a', 'postInstall')],
        reason: 'post-install hook: clearing an earlier run',
      },
    ]);
  });

  it('a failure holds the app with its exit code until a restart is asked for; a kill runs it again with backoff', () => {
    const a = withHooks(['postInstall']);
    const o = converged([a]);
    const u = hookUnit('a', 'postInstall');
    o.units[u] = hookUnitState('failed', 'install T1', { execMainStatus: 3, inactiveEnterMono: 900 * S });
    o.units['a-web.service']!.execMainStartMono = 950 * S; // (re)started after the failure
    const held = {
      kind: 'wait',
      app: 'a',
      unit: u,
      held: true,
      reason:
        'post-install hook failed (exit code 3): archy-quadlet explain a shows its output; archy-quadlet restart a runs it again',
    };
    expect(planSteps({ apps: [a] }, o)).toEqual([held]);
    // A restart asked for after it failed (at nowMs - 100 s) runs it again; one asked before does not.
    const failedMs = o.nowMs - 100_000;
    expect(planSteps({ apps: [{ ...a, restartRequestedAt: failedMs - 1 }] }, o)).toEqual([held]);
    expect(planSteps({ apps: [{ ...a, restartRequestedAt: failedMs + 1 }] }, o)).toContainEqual({
      kind: 'resetFailed',
      app: 'a',
      units: [u],
      reason: 'restart requested: running the post-install hook again',
    });
    o.units[u] = hookUnitState('failed', 'install T1', { result: 'timeout' });
    expect(planSteps({ apps: [a] }, o)[0]).toMatchObject({
      held: true,
      reason: expect.stringContaining('timed out after 60 s'),
    });
    o.units[u] = hookUnitState('failed', 'install T1', { result: 'signal', execMainStatus: 9 });
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'resetFailed',
        app: 'a',
        units: [u],
        reason: 'post-install hook was killed (signal 9): running it again',
      },
      {
        kind: 'setBackoff',
        app: 'a',
        unit: u,
        failures: 1,
        notBeforeMs: o.nowMs + 5000,
        delayMs: 5000,
        setMono: o.nowMono,
        reason: 'post-install hook cut short 1 time(s)',
      },
    ]);
    delete o.units[u];
    o.backoff[u] = { failures: 1, notBeforeMs: o.nowMs + 3000 };
    expect(planSteps({ apps: [a] }, o)).toEqual([
      { kind: 'wait', app: 'a', unit: u, reason: 'post-install hook was cut short 1 time(s): next run in 3 s' },
    ]);
  });

  it('uninstall: the pre-uninstall hook runs first while the container runs; a failure does not hold it', () => {
    const a = withHooks(['preUninstall'], { intent: 'absent' });
    const o = converged([{ ...a, intent: 'running' }]);
    const u = hookUnit('a', 'preUninstall');
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'runHook',
        app: 'a',
        point: 'preUninstall',
        unit: u,
        argv: ['podman', 'exec', 'a-web', 'true'],
        timeoutSec: 60,
        key: 'uninstall T1',
        reason: 'pre-uninstall hook due (uninstall T1)',
      },
    ]);
    o.units[u] = hookUnitState('failed', 'uninstall T1', { execMainStatus: 1 });
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'hookDone',
        app: 'a',
        point: 'preUninstall',
        key: 'uninstall T1',
        unit: u,
        reason: 'pre-uninstall hook failed (exit code 1): uninstalling anyway (its output is kept for explain)',
      },
    ]);
    // Killed again and again: after 3 tries the uninstall goes on without it.
    o.units[u] = hookUnitState('failed', 'uninstall T1', { result: 'signal', execMainStatus: 9 });
    expect(planSteps({ apps: [a] }, o)[0]).toMatchObject({ kind: 'resetFailed' });
    o.backoff[u] = { failures: 3, notBeforeMs: 0 };
    expect(planSteps({ apps: [a] }, o)).toEqual([
      {
        kind: 'hookDone',
        app: 'a',
        point: 'preUninstall',
        key: 'uninstall T1',
        unit: u,
        reason: 'pre-uninstall hook was killed 4 times: uninstalling anyway',
      },
      { kind: 'clearBackoff', app: 'a', unit: u, reason: 'pre-uninstall hook given up' },
    ]);
    delete o.backoff[u];
    // A start queued for its unit is a run starting, not one to issue again.
    o.units[u] = hookUnitState('inactive', 'uninstall T1', { jobQueued: true });
    expect(planSteps({ apps: [a] }, o)).toEqual([
      { kind: 'wait', app: 'a', unit: u, reason: 'pre-uninstall hook starting in a-web' },
    ]);
    // Done, or its container not running: the uninstall goes on.
    delete o.units[u];
    expect(planSteps({ apps: [{ ...a, hooksDone: { preUninstall: 'uninstall T1' } }] }, o)[0]).toMatchObject({
      kind: 'stop',
    });
    const stopped: Observed = converged([{ ...a, intent: 'running' }], 'inactive');
    expect(planSteps({ apps: [a] }, stopped).some((s) => s.kind === 'runHook')).toBe(false);
  });
});
