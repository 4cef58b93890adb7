import { describe, expect, it } from 'vitest';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import type { AppSpec } from '../../src/manifest/app-spec.js';
import {
  catalogLinks,
  catalogProviders,
  dependentsOf,
  interfacesOf,
  linksOf,
  providersOf,
  type AppInterfaces,
  type GraphApp,
} from '../../src/graph/app-graph.js';
import type { Intent } from '../../src/supervise/types.js';

// The graph of apps linked by interfaces: pure functions over manifests and intents.

const validator = createManifestValidator();
const FACTS = {
  hostname: 'node1',
  mdnsName: 'node1.local',
  lanAddress: '192.168.1.20',
  networkSubnet: '10.89.254.0/24',
};

function spec(text: string, id: string): AppSpec {
  const r = validator.validate(text, `apps/${id}/manifest.yml`, id);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.app;
}

const provider = (id: string, opts: { default?: boolean; secrets?: string[] } = {}) => {
  const secrets = opts.secrets ?? ['rpc-password', 'cookie'];
  return spec(
    [
      'schemaVersion: 1',
      `id: ${id}`,
      'name: Bitcoin',
      'version: "1.0.0"',
      'provides:',
      '  bitcoind:',
      `    container: node`,
      '    port: 8332',
      `    secrets: [${secrets.join(', ')}]`,
      '    volumes: [data]',
      ...(opts.default ? ['    default: true'] : []),
      'secrets:',
      ...secrets.map((s) => `  ${s}: {}`),
      'volumes:',
      '  data: {}',
      'containers:',
      '  - name: node',
      '    image: docker.io/library/busybox:latest',
      '    command: ["bitcoind", "-rpcallowip={{node.networkSubnet}}"]',
    ].join('\n'),
    id,
  );
};

/** An app that requires `requires` (the first one as a secret too) and provides `provides`. */
const dependent = (id: string, requires: string[], provides: string[] = [], env: string[] = []) =>
  spec(
    [
      'schemaVersion: 1',
      `id: ${id}`,
      'name: Dependent',
      'version: "1.0.0"',
      ...(provides.length
        ? ['provides:', ...provides.flatMap((p) => [`  ${p}:`, `    container: ${id}`, '    port: 9'])]
        : []),
      'requires:',
      ...requires.map((r) => `  ${r}: {}`),
      'containers:',
      `  - name: ${id}`,
      '    image: docker.io/library/busybox:latest',
      ...(env.length ? ['    environment:', ...env.map((e, i) => `      E${i}: "${e}"`)] : []),
    ].join('\n'),
    id,
  );

const g = (app: AppSpec, intent: Intent = 'running'): GraphApp => ({
  id: app.id,
  intent,
  interfaces: interfacesOf(app),
});

describe('interfacesOf', () => {
  it('names what an app provides in its units: service, secrets, volumes; and the facts it uses', () => {
    expect(interfacesOf(provider('bitcoin-core', { default: true }))).toEqual({
      provides: {
        bitcoind: {
          app: 'bitcoin-core',
          service: 'bitcoin-core-node.service',
          port: 8332,
          secrets: { 'rpc-password': 'bitcoin-core-rpc-password', cookie: 'bitcoin-core-cookie' },
          volumes: { data: 'bitcoin-core-data' },
          default: true,
        },
      },
      requires: {},
      facts: ['networkSubnet'],
      secrets: ['bitcoin-core-cookie', 'bitcoin-core-rpc-password'],
    });
    expect(
      interfacesOf(dependent('lnd', ['bitcoind'], ['lnd'], ['{{node.mdnsName}}', '{{node.lanAddress}}:9735'])),
    ).toMatchObject({ requires: { bitcoind: { optional: false } }, facts: ['lanAddress', 'mdnsName'] });
  });
});

describe('providersOf', () => {
  const core = provider('bitcoin-core');
  const knots = provider('bitcoin-knots');

  it('picks the installed provider, never an uninstalled one', () => {
    expect(providersOf([g(core, 'absent'), g(knots, 'stopped')]).bitcoind!.app).toBe('bitcoin-knots');
    expect(providersOf([g(knots, 'absent'), g(core)]).bitcoind!.app).toBe('bitcoin-core');
    expect(providersOf([g(knots, 'absent'), g(core, 'absent')])).toEqual({});
  });

  it('with two installed anyway, takes the one whose id sorts first, whatever the input order', () => {
    expect(providersOf([g(knots), g(core)]).bitcoind!.app).toBe('bitcoin-core');
    expect(providersOf([g(core), g(knots)]).bitcoind!.app).toBe('bitcoin-core');
  });
});

describe('dependentsOf', () => {
  const core = provider('bitcoin-core');
  const lnd = dependent('lnd', ['bitcoind'], ['lnd']);
  const btcpay = dependent('btcpay', ['lnd']);
  const electrs = dependent('electrs', ['bitcoind']);

  it("lists dependents transitively, each app's own dependents before it", () => {
    const apps = [g(core), g(lnd), g(btcpay), g(electrs)];
    expect(dependentsOf('bitcoin-core', apps)).toEqual(['electrs', 'btcpay', 'lnd']);
    expect(dependentsOf('lnd', apps)).toEqual(['btcpay']);
    expect(dependentsOf('btcpay', apps)).toEqual([]);
  });

  it('gives the same order whatever the order of its input', () => {
    const apps = [g(core), g(lnd), g(btcpay), g(electrs)];
    const orders = [apps, [...apps].reverse(), [apps[2]!, apps[0]!, apps[3]!, apps[1]!]];
    for (const a of orders) expect(dependentsOf('bitcoin-core', a)).toEqual(['electrs', 'btcpay', 'lnd']);
  });

  it('puts an app that needs both a provider and its dependent before the dependent', () => {
    const aaa = dependent('aaa', ['bitcoind', 'lnd']);
    const order = dependentsOf('bitcoin-core', [g(core), g(lnd), g(aaa)]);
    expect(order).toEqual(['aaa', 'lnd']);
  });

  it('leaves out uninstalled apps, and is empty for a provider that is not the current one', () => {
    expect(dependentsOf('bitcoin-core', [g(core), g(lnd, 'absent'), g(btcpay), g(electrs, 'stopped')])).toEqual([
      'electrs',
    ]);
    const knots = provider('bitcoin-knots');
    expect(dependentsOf('bitcoin-knots', [g(core), g(knots), g(lnd)])).toEqual([]);
  });
});

describe('linksOf', () => {
  const core = interfacesOf(provider('bitcoin-core'));
  const lnd = interfacesOf(
    spec(
      [
        'schemaVersion: 1',
        'id: lnd',
        'name: LND',
        'version: "1.0.0"',
        'requires:',
        '  bitcoind: {}',
        '  electrum:',
        '    optional: true',
        'containers:',
        '  - name: lnd',
        '    image: docker.io/library/busybox:latest',
        '    command: ["lnd", "--externalip={{node.lanAddress}}"]',
      ].join('\n'),
      'lnd',
    ),
  );

  it('holds only the facts the app uses and the ids of the secrets its providers export', () => {
    const secretIds = {
      'bitcoin-core-rpc-password': 'a'.repeat(25),
      'lnd-macaroon': 'b'.repeat(25), // its own: not a provider's
      'other-app-x': 'c'.repeat(25),
    };
    const links = linksOf(lnd, core.provides, FACTS, secretIds, 'archy-node');
    expect(links).toEqual({
      network: 'archy-node',
      facts: { lanAddress: '192.168.1.20' },
      providers: {
        bitcoind: { ...core.provides.bitcoind, secretIds: { 'bitcoin-core-rpc-password': 'a'.repeat(25) } },
      },
    });
    // An optional interface with no provider is absent; a provider not required is not linked.
    expect(Object.keys(links.providers)).toEqual(['bitcoind']);
  });

  it('is the same for an app that uses no fact whatever the facts are (the render cache key)', () => {
    const plain: AppInterfaces = { ...lnd, facts: [] };
    const a = linksOf(plain, core.provides, FACTS, {}, 'archy-node');
    const b = linksOf(plain, core.provides, { ...FACTS, lanAddress: '10.0.0.9', hostname: 'x' }, {}, 'archy-node');
    expect(a).toEqual(b);
    expect(a.facts).toEqual({});
  });
});

describe('catalogLinks and catalogProviders', () => {
  const lnd = dependent('lnd', ['bitcoind']);
  const apps = (knotsDefault: boolean) =>
    [provider('bitcoin-core'), provider('bitcoin-knots', { default: knotsDefault }), lnd].map((a) => ({
      id: a.id,
      interfaces: interfacesOf(a),
    }));

  it('prefers the provider marked default: true', () => {
    expect(catalogProviders('bitcoind', apps(true))).toEqual(['bitcoin-knots', 'bitcoin-core']);
    const links = catalogLinks(apps(true), FACTS, 'archy-node');
    expect(links.get('lnd')!.providers.bitcoind!.app).toBe('bitcoin-knots');
    expect(links.get('lnd')!.providers.bitcoind!.secretIds).toEqual({});
    expect(links.get('bitcoin-core')!.providers).toEqual({});
  });

  it('without a default, takes the first by id', () => {
    expect(catalogProviders('bitcoind', apps(false))).toEqual(['bitcoin-core', 'bitcoin-knots']);
    expect(catalogLinks(apps(false), FACTS, 'archy-node').get('lnd')!.providers.bitcoind!.app).toBe('bitcoin-core');
    expect(catalogProviders('electrum', apps(false))).toEqual([]);
  });
});
