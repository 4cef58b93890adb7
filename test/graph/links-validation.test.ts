import { describe, expect, it } from 'vitest';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';
import { checkCatalog } from '../../src/catalog/catalog-checks.js';
import type { CatalogApp } from '../../src/catalog/load-catalog.js';

// Apps that need apps, as validation sees them: what one manifest can tell (semantic checks)
// and what only the whole catalog can (catalog checks), each with its file:line:col.

const validator = createManifestValidator();
const lines = (...l: string[]) => `${l.join('\n')}\n`;
const errorsOf = (text: string, id: string, file = `apps/${id}/manifest.yml`) => {
  const r = validator.validate(text, file, id);
  return r.ok ? [] : r.errors.map(formatManifestError);
};

// The provider: line numbers matter (errors point into these texts).
const CORE = lines(
  'schemaVersion: 1', // 1
  'id: bitcoin-core', // 2
  'name: Bitcoin Core', // 3
  'version: "1.0.0"', // 4
  'provides:', // 5
  '  bitcoind:', // 6
  '    container: bitcoin-core', // 7
  '    port: 8332', // 8
  '    secrets: [rpc-password, cookie]', // 9
  '    volumes: [data]', // 10
  '    default: true', // 11
  'secrets:', // 12
  '  rpc-password: {}', // 13
  '  cookie: {}', // 14
  'volumes:', // 15
  '  data: {}', // 16
  'containers:', // 17
  '  - name: bitcoin-core', // 18
  '    image: docker.io/library/busybox:latest', // 19
  '    volumes:', // 20
  '      - volume: data', // 21
  '        target: /data', // 22
);

/** An alternative provider of bitcoind: exports rpc-password and data, not cookie. */
const knots = (extra: string[] = []) =>
  lines(
    'schemaVersion: 1',
    'id: bitcoin-knots',
    'name: Bitcoin Knots',
    'version: "1.0.0"',
    'provides:',
    '  bitcoind:',
    '    container: bitcoin-knots',
    '    port: 8332',
    '    secrets: [rpc-password]',
    '    volumes: [data]',
    ...extra,
    'secrets:',
    '  rpc-password: {}',
    'volumes:',
    '  data: {}',
    'containers:',
    '  - name: bitcoin-knots',
    '    image: docker.io/library/busybox:latest',
  );

/** A dependent; `container` lines are appended to its one container. */
const dependent = (id: string, container: string[], head: string[] = ['requires:', '  bitcoind: {}']) =>
  lines(
    'schemaVersion: 1', // 1
    `id: ${id}`, // 2
    'name: Dependent', // 3
    'version: "1.0.0"', // 4
    ...head, // 5..
    'containers:',
    `  - name: ${id}`,
    '    image: docker.io/library/busybox:latest',
    ...container,
  );

const LND = dependent('lnd', [
  '    environment:', // 10
  '      ALIAS: "{{node.mdnsName}}"', // 11
  '    command: ["lnd", "--externalip={{node.lanAddress}}"]', // 12
  '    secretEnvironment:', // 13
  '      BTC_PASS: bitcoind.rpc-password', // 14
  '    secretFiles:', // 15
  '      - secret: bitcoind.rpc-password', // 16
  '        target: /run/secrets/btc', // 17
  '    volumes:', // 18
  '      - volume: bitcoind.data', // 19
  '        target: /btc', // 20
  '        readOnly: true', // 21
]);

function catalogApp(id: string, text: string): CatalogApp {
  const file = `apps/${id}/manifest.yml`;
  return { id, file, dir: `apps/${id}`, result: validator.validate(text, file, id) };
}
const catalogErrors = (apps: CatalogApp[]) =>
  Object.fromEntries(
    checkCatalog(apps).map((a) => [a.id, a.result.ok ? [] : a.result.errors.map(formatManifestError)]),
  );

describe('one manifest: provides and requires', () => {
  it('accepts a provider and a dependent that uses its secret, volume and node facts', () => {
    expect(errorsOf(CORE, 'bitcoin-core')).toEqual([]);
    expect(errorsOf(LND, 'lnd')).toEqual([]);
    expect(errorsOf(knots(), 'bitcoin-knots')).toEqual([]);
  });

  it('refuses a reference to an interface the app does not require (secretEnvironment, secretFiles, volumes)', () => {
    const text = dependent(
      'lnd',
      [
        '    secretEnvironment:', // 8
        '      BTC_PASS: bitcoind.rpc-password', // 9
        '    secretFiles:', // 10
        '      - secret: bitcoind.cookie', // 11
        '        target: /run/secrets/btc', // 12
        '    volumes:', // 13
        '      - volume: bitcoind.data', // 14
        '        target: /btc', // 15
      ],
      [],
    );
    expect(errorsOf(text, 'lnd')).toEqual([
      'apps/lnd/manifest.yml:9:17: containers[0].secretEnvironment.BTC_PASS: "bitcoind.rpc-password" names interface "bitcoind", which this app does not require (add requires: bitcoind)',
      'apps/lnd/manifest.yml:11:17: containers[0].secretFiles[0].secret: "bitcoind.cookie" names interface "bitcoind", which this app does not require (add requires: bitcoind)',
      'apps/lnd/manifest.yml:14:17: containers[0].volumes[0].volume: "bitcoind.data" names interface "bitcoind", which this app does not require (add requires: bitcoind)',
    ]);
  });

  it('refuses an unknown node fact in environment, command and entrypoint, naming the known ones', () => {
    const known = 'hostname, mdnsName, lanAddress, networkSubnet';
    const text = dependent('lnd', [
      '    environment:', // 10
      '      IP: "{{node.ip}}"', // 11
      '    command: ["lnd", "--x={{ node.hostName }}"]', // 12
      '    entrypoint: ["/bin/{{node.lan}}"]', // 13
    ]);
    expect(errorsOf(text, 'lnd')).toEqual([
      `apps/lnd/manifest.yml:11:11: containers[0].environment.IP: unknown node fact "node.ip" (known: ${known})`,
      `apps/lnd/manifest.yml:12:22: containers[0].command[1]: unknown node fact "node.hostName" (known: ${known})`,
      `apps/lnd/manifest.yml:13:18: containers[0].entrypoint[0]: unknown node fact "node.lan" (known: ${known})`,
    ]);
  });

  it('refuses provides.container naming no container, and exports that are not declared', () => {
    const text = CORE.replace('    container: bitcoin-core', '    container: nope')
      .replace('secrets: [rpc-password, cookie]', 'secrets: [rpc-password, cookie, macaroon]')
      .replace('volumes: [data]', 'volumes: [data, blocks]');
    expect(errorsOf(text, 'bitcoin-core')).toEqual([
      'apps/bitcoin-core/manifest.yml:7:16: provides.bitcoind.container: no container named "nope" in this app',
      'apps/bitcoin-core/manifest.yml:9:37: provides.bitcoind.secrets[2]: secret "macaroon" is not declared under secrets',
      'apps/bitcoin-core/manifest.yml:10:21: provides.bitcoind.volumes[1]: volume "blocks" is not declared under volumes',
    ]);
  });

  it("refuses chown and readOnly: false on a provider's volume", () => {
    const text = dependent('lnd', [
      '    volumes:', // 10
      '      - volume: bitcoind.data', // 11
      '        target: /btc', // 12
      '        readOnly: false', // 13
      '        chown: true', // 14
    ]);
    expect(errorsOf(text, 'lnd')).toEqual([
      "apps/lnd/manifest.yml:13:19: containers[0].volumes[0].readOnly: a provider's volume is always mounted read-only",
      "apps/lnd/manifest.yml:14:16: containers[0].volumes[0].chown: must not chown a provider's volume (it is another app's data)",
    ]);
  });

  it('refuses network host or none for an app that requires or provides an interface', () => {
    for (const network of ['host', 'none']) {
      const text = dependent('lnd', [], [`network: ${network}`, 'requires:', '  bitcoind: {}']);
      expect(errorsOf(text, 'lnd')).toEqual([
        `apps/lnd/manifest.yml:5:10: network: cannot be ${network} for an app that provides or requires an interface (the node network links apps)`,
      ]);
      const provider = CORE.replace('provides:', `network: ${network}\nprovides:`);
      expect(errorsOf(provider, 'bitcoin-core')).toEqual([
        `apps/bitcoin-core/manifest.yml:5:10: network: cannot be ${network} for an app that provides or requires an interface (the node network links apps)`,
      ]);
    }
    // Without links, host is fine.
    expect(errorsOf(dependent('lnd', [], ['network: host']), 'lnd')).toEqual([]);
  });

  it('refuses the id archy-node (the node network has it)', () => {
    const text = dependent('archy-node', [], []);
    expect(errorsOf(text, 'archy-node')).toEqual([
      'apps/archy-node/manifest.yml:2:5: id: "archy-node" is reserved for the node network',
    ]);
  });

  it('refuses requiring an interface the app provides itself, and requires.containers naming no container', () => {
    const self = CORE.replace('containers:', 'requires:\n  bitcoind: {}\ncontainers:');
    expect(errorsOf(self, 'bitcoin-core')).toEqual([
      'apps/bitcoin-core/manifest.yml:18:3: requires.bitcoind: the app provides "bitcoind" itself',
    ]);
    const text = dependent('lnd', [], ['requires:', '  bitcoind:', '    containers: [lnd, ghost]']);
    expect(errorsOf(text, 'lnd')).toEqual([
      'apps/lnd/manifest.yml:7:23: requires.bitcoind.containers[1]: no container named "ghost" in this app',
    ]);
  });
});

describe('the catalog: interfaces across apps', () => {
  it('accepts a provider, an alternative and a dependent', () => {
    const apps = [catalogApp('bitcoin-core', CORE), catalogApp('bitcoin-knots', knots()), catalogApp('lnd', LND)];
    expect(catalogErrors(apps)).toEqual({ 'bitcoin-core': [], 'bitcoin-knots': [], lnd: [] });
  });

  it('refuses an interface no app in the catalog provides', () => {
    const text = dependent('lnd', [], ['requires:', '  bitcoind: {}', '  electrum:', '    optional: true']);
    const apps = [catalogApp('bitcoin-core', CORE), catalogApp('lnd', text)];
    expect(catalogErrors(apps).lnd).toEqual([
      'apps/lnd/manifest.yml:7:3: requires.electrum: no app in the catalog provides "electrum"',
    ]);
  });

  it('refuses a secret or volume that one of the alternative providers does not export', () => {
    const text = dependent('lnd', [
      '    secretEnvironment:', // 10
      '      COOKIE: bitcoind.cookie', // 11
      '    volumes:', // 12
      '      - volume: bitcoind.blocks', // 13
      '        target: /blocks', // 14
    ]);
    const apps = [catalogApp('bitcoin-core', CORE), catalogApp('bitcoin-knots', knots()), catalogApp('lnd', text)];
    expect(catalogErrors(apps)).toEqual({
      'bitcoin-core': [],
      'bitcoin-knots': [],
      lnd: [
        'apps/lnd/manifest.yml:11:15: containers[0].secretEnvironment.COOKIE: bitcoin-knots, which provides bitcoind, does not export secret "cookie"',
        'apps/lnd/manifest.yml:13:17: containers[0].volumes[0].volume: bitcoin-core, which provides bitcoind, does not export volume "blocks"',
        'apps/lnd/manifest.yml:13:17: containers[0].volumes[0].volume: bitcoin-knots, which provides bitcoind, does not export volume "blocks"',
      ],
    });
    // With only bitcoin-core in the catalog, the cookie is exported.
    expect(catalogErrors([catalogApp('bitcoin-core', CORE), catalogApp('lnd', text)]).lnd).toEqual([
      'apps/lnd/manifest.yml:13:17: containers[0].volumes[0].volume: bitcoin-core, which provides bitcoind, does not export volume "blocks"',
    ]);
  });

  it('refuses two default providers of one interface: the later id is reported', () => {
    const apps = [catalogApp('bitcoin-knots', knots(['    default: true'])), catalogApp('bitcoin-core', CORE)];
    expect(catalogErrors(apps)).toEqual({
      'bitcoin-core': [],
      'bitcoin-knots': [
        'apps/bitcoin-knots/manifest.yml:11:14: provides.bitcoind.default: "bitcoin-core" is already the default provider of bitcoind',
      ],
    });
  });

  it('refuses a cycle of requires between apps, reported on each app of the cycle', () => {
    const a = lines(
      'schemaVersion: 1',
      'id: alpha',
      'name: Alpha',
      'version: "1.0.0"',
      'provides:',
      '  ia:',
      '    container: alpha',
      '    port: 1',
      'requires:', // 9
      '  ib: {}', // 10
      'containers:',
      '  - name: alpha',
      '    image: docker.io/library/busybox:latest',
    );
    const b = a.replaceAll('alpha', 'beta').replace('  ia:', '  ib:').replace('  ib: {}', '  ia: {}');
    const apps = [
      catalogApp('beta', b),
      catalogApp('alpha', a),
      catalogApp('lnd', LND),
      catalogApp('bitcoin-core', CORE),
    ];
    expect(catalogErrors(apps)).toEqual({
      beta: ['apps/beta/manifest.yml:10:3: requires.ia: requires cycle between apps: alpha → beta → alpha'],
      alpha: ['apps/alpha/manifest.yml:10:3: requires.ib: requires cycle between apps: alpha → beta → alpha'],
      lnd: [],
      'bitcoin-core': [],
    });
  });
});
