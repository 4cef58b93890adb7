import { describe, expect, it } from 'vitest';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import type { AppSpec } from '../../src/manifest/app-spec.js';
import { interfacesOf, linksOf, providersOf, type RenderLinks } from '../../src/graph/app-graph.js';
import { LinkError, renderApp, renderNodeUnits } from '../../src/render/render-app.js';
import type { Intent } from '../../src/supervise/types.js';

// What links look like in the rendered Quadlet files.

const validator = createManifestValidator();
const FACTS = {
  hostname: 'node1',
  mdnsName: 'node1.local',
  lanAddress: '192.168.1.20',
  networkSubnet: '10.89.254.0/24',
};

function spec(lines: string[], id: string): AppSpec {
  const r = validator.validate(`${lines.join('\n')}\n`, `apps/${id}/manifest.yml`, id);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.app;
}

const provider = (id: string) =>
  spec(
    [
      'schemaVersion: 1',
      `id: ${id}`,
      'name: Bitcoin',
      'version: "1.0.0"',
      'provides:',
      '  bitcoind:',
      `    container: ${id}`,
      '    port: 8332',
      '    secrets: [rpc-password]',
      '    volumes: [data]',
      'secrets:',
      '  rpc-password: {}',
      'volumes:',
      '  data: {}',
      'containers:',
      `  - name: ${id}`,
      '    image: docker.io/library/busybox:latest',
      '    command: ["bitcoind", "-rpcallowip={{node.networkSubnet}}"]',
      '    volumes:',
      '      - volume: data',
      '        target: /data',
    ],
    id,
  );

const LND = spec(
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
    '    environment:',
    '      ALIAS: "{{node.mdnsName}}"',
    '      PLAIN: "x"',
    '    command: ["lnd", "--externalip={{node.lanAddress}}:9735", "--rpc=bitcoind:8332"]',
    '    entrypoint: ["/bin/{{node.hostname}}"]',
    '    secretEnvironment:',
    '      BTC_PASS: bitcoind.rpc-password',
    '      ELECTRUM: electrum.token',
    '    volumes:',
    '      - volume: bitcoind.data',
    '        target: /btc',
  ],
  'lnd',
);

const ELECTRS = spec(
  [
    'schemaVersion: 1',
    'id: electrs',
    'name: Electrs',
    'version: "1.0.0"',
    'provides:',
    '  electrum:',
    '    container: electrs',
    '    port: 50001',
    '    secrets: [token]',
    'secrets:',
    '  token: {}',
    'containers:',
    '  - name: electrs',
    '    image: docker.io/library/busybox:latest',
  ],
  'electrs',
);

const g = (app: AppSpec, intent: Intent = 'running') => ({ id: app.id, intent, interfaces: interfacesOf(app) });

function linksFor(app: AppSpec, installed: AppSpec[], secretIds: Record<string, string> = {}): RenderLinks {
  return linksOf(interfacesOf(app), providersOf(installed.map((a) => g(a))), FACTS, secretIds, 'archy-node');
}

function render(app: AppSpec, links?: RenderLinks) {
  const files = renderApp(app, {
    startAtBoot: true,
    source: `apps/${app.id}/manifest.yml`,
    appDir: `/apps/${app.id}`,
    dataDir: `/data/${app.id}`,
    ...(links ? { links } : {}),
  });
  return Object.fromEntries(files.map((f) => [f.name, f.content]));
}
const linesOf = (content: string, key: string) => content.split('\n').filter((l) => l.startsWith(`${key}=`));

const CORE = provider('bitcoin-core');
const KNOTS = provider('bitcoin-knots');
const ID = 'f00dfeedcafe0123456789abcdef';

describe('a dependent linked to its provider', () => {
  it('is ordered after the provider without pulling it in, joins the node network, reads its secret and volume', () => {
    const file = render(LND, linksFor(LND, [CORE, LND], { 'bitcoin-core-rpc-password': ID }))['lnd.container']!;
    expect(linesOf(file, 'Requisite')).toEqual(['Requisite=bitcoin-core.service']);
    expect(linesOf(file, 'After')).toEqual(['After=bitcoin-core.service']);
    expect(linesOf(file, 'Requires')).toEqual([]);
    expect(linesOf(file, 'Wants')).toEqual([]);
    expect(linesOf(file, 'Network')).toEqual(['Network=archy-node.network']);
    expect(linesOf(file, 'Secret')).toEqual(['Secret="bitcoin-core-rpc-password,type=env,target=BTC_PASS"']);
    expect(linesOf(file, 'Volume')).toEqual(['Volume=bitcoin-core-data.volume:/btc:ro']);
    expect(linesOf(file, 'Label')).toContain('Label="io.archipelago.link.bitcoind=bitcoin-core f00dfeedcafe"');
  });

  it("the provider's serving container joins the node network under the interface's name", () => {
    const file = render(CORE, linksFor(CORE, [CORE, LND]))['bitcoin-core.container']!;
    expect(linesOf(file, 'Network')).toEqual(['Network=archy-node.network:alias=bitcoind']);
    expect(linesOf(file, 'Requisite')).toEqual([]);
    expect(file).not.toContain('io.archipelago.link.');
    expect(linesOf(file, 'Exec')).toEqual(['Exec="bitcoind" "-rpcallowip=10.89.254.0/24"']);
  });

  it('switching provider changes the Secret= name, the volume, the ordering and the label (so the file changes)', () => {
    const a = render(LND, linksFor(LND, [CORE, LND], { 'bitcoin-core-rpc-password': ID }))['lnd.container']!;
    const b = render(LND, linksFor(LND, [KNOTS, LND], { 'bitcoin-knots-rpc-password': ID }))['lnd.container']!;
    expect(b).not.toEqual(a);
    expect(linesOf(b, 'Secret')).toEqual(['Secret="bitcoin-knots-rpc-password,type=env,target=BTC_PASS"']);
    expect(linesOf(b, 'Requisite')).toEqual(['Requisite=bitcoin-knots.service']);
    expect(linesOf(b, 'Volume')).toEqual(['Volume=bitcoin-knots-data.volume:/btc:ro']);
    expect(linesOf(b, 'Label')).toContain('Label="io.archipelago.link.bitcoind=bitcoin-knots f00dfeedcafe"');
  });

  it('a re-created provider secret (another id) changes only the label line', () => {
    const a = render(LND, linksFor(LND, [CORE, LND], { 'bitcoin-core-rpc-password': ID }))['lnd.container']!;
    const b = render(LND, linksFor(LND, [CORE, LND], { 'bitcoin-core-rpc-password': `0123456789ab${ID}` }))[
      'lnd.container'
    ]!;
    const body = (s: string) => s.split('\n').filter((l) => !l.startsWith('#'));
    const diff = body(b).filter((l) => !body(a).includes(l));
    expect(diff).toEqual(['Label="io.archipelago.link.bitcoind=bitcoin-core 0123456789ab"']);
    // No id known yet: the label names the provider only.
    const none = render(LND, linksFor(LND, [CORE, LND]))['lnd.container']!;
    expect(linesOf(none, 'Label')).toContain('Label="io.archipelago.link.bitcoind=bitcoin-core"');
  });

  it('an optional interface with a provider is linked, and only ordered after it (never stopped with it)', () => {
    const file = render(LND, linksFor(LND, [CORE, ELECTRS, LND], {}))['lnd.container']!;
    expect(linesOf(file, 'Requisite')).toEqual(['Requisite=bitcoin-core.service']);
    expect(linesOf(file, 'After')).toEqual(['After=bitcoin-core.service', 'After=electrs.service']);
    expect(linesOf(file, 'Secret')).toEqual([
      'Secret="bitcoin-core-rpc-password,type=env,target=BTC_PASS"',
      'Secret="electrs-token,type=env,target=ELECTRUM"',
    ]);
    expect(linesOf(file, 'Label').filter((l) => l.includes('link.'))).toEqual([
      'Label="io.archipelago.link.bitcoind=bitcoin-core"',
      'Label="io.archipelago.link.electrum=electrs"',
    ]);
  });

  it('an optional interface with no provider: its references are left out', () => {
    const file = render(LND, linksFor(LND, [CORE, LND]))['lnd.container']!;
    expect(file).not.toContain('electr');
    expect(linesOf(file, 'Secret')).toHaveLength(1);
    expect(linesOf(file, 'Requisite')).toEqual(['Requisite=bitcoin-core.service']);
  });

  it('a required interface with no provider cannot be rendered: LinkError', () => {
    expect(() => render(LND, linksFor(LND, [LND]))).toThrow(LinkError);
    expect(() => render(LND, linksFor(LND, [LND]))).toThrow('needs bitcoind, and no installed app provides it');
    expect(() => render(LND)).toThrow('needs bitcoind, and no installed app provides it');
  });

  it('puts node facts into Environment=, Exec= and Entrypoint=; an unknown fact is a LinkError', () => {
    const file = render(LND, linksFor(LND, [CORE, LND]))['lnd.container']!;
    expect(linesOf(file, 'Environment')).toEqual(['Environment="ALIAS=node1.local"', 'Environment="PLAIN=x"']);
    expect(linesOf(file, 'Exec')).toEqual(['Exec="lnd" "--externalip=192.168.1.20:9735" "--rpc=bitcoind:8332"']);
    expect(linesOf(file, 'Entrypoint')).toEqual(['Entrypoint=["/bin/node1"]']);
    const links = linksFor(LND, [CORE, LND]);
    const withoutFacts = { ...links, facts: { lanAddress: '192.168.1.20' } };
    expect(() => render(LND, withoutFacts)).toThrow(
      new LinkError('node fact "node.mdnsName" is not known on this node'),
    );
  });
});

describe('a private multi-container app on the node network', () => {
  const STACK = spec(
    [
      'schemaVersion: 1',
      'id: stack',
      'name: Stack',
      'version: "1.0.0"',
      'provides:',
      '  api:',
      '    container: web',
      '    port: 80',
      'requires:',
      '  bitcoind:',
      '    containers: [web]',
      'containers:',
      '  - name: web',
      '    image: docker.io/library/busybox:latest',
      '    networkAliases: [www, front]',
      '  - name: db',
      '    image: docker.io/library/busybox:latest',
      '    networkAliases: [database]',
    ],
    'stack',
  );

  it('gives aliases per network: private ones never on the node network line, no NetworkAlias=', () => {
    const files = render(STACK, linksFor(STACK, [CORE, STACK]));
    const web = files['stack-web.container']!;
    const db = files['stack-db.container']!;
    expect(linesOf(web, 'Network')).toEqual([
      'Network=stack.network:alias=web,alias=www,alias=front',
      'Network=archy-node.network:alias=api',
    ]);
    expect(linesOf(db, 'Network')).toEqual(['Network=stack.network:alias=db,alias=database']);
    expect(`${web}${db}`).not.toContain('NetworkAlias=');
    // requires.bitcoind.containers: [web]: only web waits for bitcoind.
    expect(linesOf(web, 'Requisite')).toEqual(['Requisite=bitcoin-core.service']);
    expect(linesOf(db, 'Requisite')).toEqual([]);
  });
});

describe('the node network', () => {
  it('is one .network file with the fixed name and the given subnet', () => {
    const [f, ...rest] = renderNodeUnits('10.89.254.0/24');
    expect(rest).toEqual([]);
    expect(f!.name).toBe('archy-node.network');
    expect(linesOf(f!.content, 'NetworkName')).toEqual(['NetworkName=archy-node']);
    expect(linesOf(f!.content, 'Subnet')).toEqual(['Subnet=10.89.254.0/24']);
    expect(linesOf(f!.content, 'Label')).toEqual(['Label="io.archipelago.managed-by=archy-quadlet"']);
  });
});
