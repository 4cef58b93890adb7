import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseNodeConfig, readNodeConfig, SYSTEM_CONFIG_ENV } from '../../src/config/node-config.js';
import { resolvePaths } from '../../src/paths.js';
import { run } from '../../src/cli/run.js';

// One node configuration read by every entry point: the system file, then the user's, key by
// key; --apps and $ARCHY_QUADLET_APPS still win for the one process that gives them.

describe('parseNodeConfig', () => {
  it('reads the keys it knows', () => {
    expect(
      parseNodeConfig(
        'catalog: /srv/catalog\ndataRoot: /var/lib/archipelago\nnodeNetwork:\n  name: archy-net\n  subnet: 10.88.0.0/16\n',
        'f',
      ),
    ).toEqual({
      values: {
        catalog: '/srv/catalog',
        dataRoot: '/var/lib/archipelago',
        'nodeNetwork.name': 'archy-net',
        'nodeNetwork.subnet': '10.88.0.0/16',
      },
      problems: [],
    });
    expect(parseNodeConfig('', 'f')).toEqual({ values: {}, problems: [] });
  });

  it('reports each problem at its line, and keeps the good keys', () => {
    const r = parseNodeConfig(
      'catalog: srv/catalog\ndataroot: /x\nnodeNetwork:\n  name: Archy_Net\n  subnet: 10.0.0.0/33\n  mtu: 1500\ndataRoot: /ok\n',
      '/etc/archy-quadlet/config.yml',
    );
    expect(r.values).toEqual({ dataRoot: '/ok' });
    expect(r.problems.map((p) => `${p.line}: ${p.message}`)).toEqual([
      '1: catalog: must be an absolute path',
      '2: unknown key dataroot (known: catalog, dataRoot, nodeNetwork)',
      '4: nodeNetwork.name: must be a DNS label',
      '5: nodeNetwork.subnet: must be an IPv4 subnet such as 10.89.254.0/24',
      '6: unknown key nodeNetwork.mtu (known: name, subnet)',
    ]);
    expect(parseNodeConfig('- a\n', 'f').problems[0]!.message).toBe('must be a mapping of keys');
    expect(parseNodeConfig('catalog: [\n', 'f').problems.length).toBeGreaterThan(0);
  });
});

describe('readNodeConfig and resolvePaths', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const setup = (system: string | undefined, user: string | undefined) => {
    dir = mkdtempSync(join(tmpdir(), 'aq-config-'));
    const env = { [SYSTEM_CONFIG_ENV]: join(dir, 'etc.yml'), XDG_CONFIG_HOME: join(dir, 'config') };
    if (system !== undefined) writeFileSync(join(dir, 'etc.yml'), system);
    if (user !== undefined) {
      mkdirSync(join(dir, 'config', 'archy-quadlet'), { recursive: true });
      writeFileSync(join(dir, 'config', 'archy-quadlet', 'config.yml'), user);
    }
    return env;
  };

  it("the user's file wins key by key over the system's; each value says where it came from", () => {
    const env = setup('catalog: /etc-catalog\ndataRoot: /var/lib/archipelago\n', 'catalog: /user-catalog\n');
    const config = readNodeConfig(env, '/home/u');
    expect(config.values).toEqual({ catalog: '/user-catalog', dataRoot: '/var/lib/archipelago' });
    const paths = resolvePaths({ env, home: '/home/u', bundledAppsDir: '/bundled', config });
    expect(paths.appsDir).toBe('/user-catalog');
    expect(paths.dataRoot).toBe('/var/lib/archipelago');
    expect(paths.nodeNetwork).toEqual({ name: 'archy-node', subnet: '10.89.254.0/24' });
    expect(paths.origins).toEqual({
      catalog: join(dir!, 'config', 'archy-quadlet', 'config.yml'),
      dataRoot: join(dir!, 'etc.yml'),
      'nodeNetwork.name': 'default',
      'nodeNetwork.subnet': 'default',
    });
  });

  it('--apps, then $ARCHY_QUADLET_APPS, then the configuration, then the bundled catalog', () => {
    const env = setup(undefined, 'catalog: /configured\n');
    const config = readNodeConfig(env, '/home/u');
    const appsDir = (e: Record<string, string>, apps?: string) =>
      resolvePaths({ env: { ...env, ...e }, home: '/home/u', bundledAppsDir: '/bundled', appsOption: apps, config });
    expect(appsDir({}, '/flag')).toMatchObject({ appsDir: '/flag', configuredCatalog: '/configured' });
    expect(appsDir({ ARCHY_QUADLET_APPS: '/env' }).appsDir).toBe('/env');
    expect(appsDir({}).appsDir).toBe('/configured');
    const none = resolvePaths({
      env: {},
      home: '/home/u',
      bundledAppsDir: '/bundled',
      config: readNodeConfig(setup(undefined, undefined), '/home/u'),
    });
    expect(none).toMatchObject({ appsDir: '/bundled', dataRoot: '/home/u/.local/share/archy-quadlet/data' });
  });

  it('the CLI refuses to act on a malformed configuration, naming file and line; config shows it', async () => {
    const env = setup(undefined, 'catalog: relative\n');
    const io = () => {
      const out: string[] = [];
      const err: string[] = [];
      return {
        out,
        err,
        io: {
          env: { ...env, XDG_STATE_HOME: join(dir!, 'state') },
          home: dir!,
          isTty: false,
          stdout: (s: string) => out.push(s),
          stderr: (s: string) => err.push(s),
        },
      };
    };
    const a = io();
    expect(await run(['status'], a.io as never)).toBe(3);
    expect(a.err.join('')).toBe(
      `archy-quadlet: configuration ${join(dir!, 'config', 'archy-quadlet', 'config.yml')}:1: catalog: must be an absolute path\n`,
    );
    const b = io();
    expect(await run(['config'], b.io as never)).toBe(3);
    expect(b.out.join('')).toContain(
      `problem: ${join(dir!, 'config', 'archy-quadlet', 'config.yml')}:1: catalog: must be an absolute path`,
    );
  });
});
