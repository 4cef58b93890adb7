import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { changeIntent, IntentError, type IntentChange, type LinkOptions } from '../../src/supervise/intents.js';
import type { SupervisorState } from '../../src/supervise/state-store.js';
import { fakeNode, type FakeNode } from './fake-adapters.js';

// The verbs and apps that need apps, on a fake node whose catalog holds two alternative
// providers of bitcoind (bitcoin-core the default), lnd that needs bitcoind and provides lnd,
// and btcpay that needs lnd.

const PROVIDER = (id: string, isDefault: boolean) => `schemaVersion: 1
id: ${id}
name: Bitcoin
version: "1.0.0"
provides:
  bitcoind:
    container: ${id}
    port: 8332
    secrets: [rpc-password]
    default: ${isDefault}
secrets:
  rpc-password: {}
containers:
  - name: ${id}
    image: docker.io/library/busybox:latest
`;
const LND = `schemaVersion: 1
id: lnd
name: LND
version: "1.0.0"
provides:
  lnd:
    container: lnd
    port: 10009
requires:
  bitcoind: {}
containers:
  - name: lnd
    image: docker.io/library/busybox:latest
    secretEnvironment:
      BTC_PASS: bitcoind.rpc-password
`;
const BTCPAY = `schemaVersion: 1
id: btcpay
name: BTCPay
version: "1.0.0"
requires:
  lnd: {}
containers:
  - name: btcpay
    image: docker.io/library/busybox:latest
`;

let node: FakeNode;
afterEach(() => node?.cleanup());

function catalog(): FakeNode {
  node = fakeNode();
  for (const [id, text] of [
    ['bitcoin-core', PROVIDER('bitcoin-core', true)],
    ['bitcoin-knots', PROVIDER('bitcoin-knots', false)],
    ['lnd', LND],
    ['btcpay', BTCPAY],
  ] as const) {
    mkdirSync(join(node.paths.appsDir, id), { recursive: true });
    writeFileSync(join(node.paths.appsDir, id, 'manifest.yml'), text);
  }
  return node;
}

const stateFile = () => join(node.paths.stateDir, 'state.json');
const readStateText = () => (existsSync(stateFile()) ? readFileSync(stateFile(), 'utf8') : '');
/** Intent (and purge, when set) of each app in the state. */
const intents = (s: SupervisorState) =>
  Object.fromEntries(
    Object.entries(s.apps).map(([id, a]) => [id, a.purge === undefined ? a.intent : `${a.intent} purge=${a.purge}`]),
  );

/**
 * Changes an intent and returns the state as the verb wrote it, before its pass can move on
 * (a pass forgets uninstalled apps once their units are gone): the fake systemd holds the
 * pass at its first look at the units until the state has been read.
 */
async function change(appId: string, what: IntentChange, links: LinkOptions = {}): Promise<SupervisorState> {
  const before = readStateText();
  let release!: () => void;
  node.sv.systemctl.gate = new Promise<void>((r) => {
    release = r;
  });
  let settled = false;
  const pass = changeIntent(node.sv, appId, what, links).finally(() => {
    settled = true;
  });
  pass.catch(() => undefined);
  try {
    for (let i = 0; i < 1000 && !settled && readStateText() === before; i++) await new Promise((r) => setTimeout(r, 5));
    const written = readStateText();
    release();
    node.sv.systemctl.gate = undefined;
    await pass;
    return JSON.parse(written) as SupervisorState;
  } finally {
    release();
    node.sv.systemctl.gate = undefined;
  }
}

/** Expects the change to be refused with exactly this message, the state untouched. */
async function refused(appId: string, what: IntentChange, message: string, links: LinkOptions = {}) {
  const before = readStateText();
  const err = await changeIntent(node.sv, appId, what, links).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IntentError);
  expect((err as Error).message).toBe(message);
  expect(readStateText()).toBe(before);
}

describe('install and the interfaces an app requires', () => {
  it('refuses an app whose required interface no installed app provides, naming the providers in the catalog', async () => {
    catalog();
    await refused(
      'lnd',
      'install',
      'lnd needs bitcoind, which no installed app provides: install one of bitcoin-core, bitcoin-knots first, or install lnd --with-dependencies',
    );
    await refused(
      'btcpay',
      'install',
      'btcpay needs lnd, which no installed app provides: install lnd first, or install btcpay --with-dependencies',
    );
  });

  it('refuses an install whose container name a container it does not own holds (an old node, a rolled-back adoption)', async () => {
    catalog();
    node.sv.podman.containers = async () => ({ 'bitcoin-core': { state: 'running', ports: [] } });
    await refused(
      'bitcoin-core',
      'install',
      'a container named bitcoin-core is already there (a container archy-quadlet does not own): archy-quadlet adopt bitcoin-core takes it over, keeping its data; or remove or rename it',
    );
    // Also for a provider --with-dependencies would pull in.
    await refused(
      'lnd',
      'install',
      'a container named bitcoin-core is already there (a container archy-quadlet does not own): archy-quadlet adopt bitcoin-core takes it over, keeping its data; or remove or rename it',
      { withDependencies: true },
    );
    // Another app's container of that name.
    node.sv.podman.containers = async () => ({ lnd: { app: 'other', state: 'exited', ports: [] } });
    node.install('bitcoin-core');
    await refused(
      'lnd',
      'install',
      'a container named lnd is already there (a container of other): uninstall other first',
    );
    // Its own container, left from an earlier install: the planner clears it; no refusal.
    node.sv.podman.containers = async () => ({ lnd: { app: 'lnd', state: 'exited', ports: [] } });
    expect(intents(await change('lnd', 'install'))).toEqual({ 'bitcoin-core': 'running', lnd: 'running' });
  });

  it('--with-dependencies installs the default provider first, transitively', async () => {
    catalog();
    const s = await change('btcpay', 'install', { withDependencies: true });
    expect(intents(s)).toEqual({ 'bitcoin-core': 'running', lnd: 'running', btcpay: 'running' });
  });

  it('installs a dependent when its provider is installed, even stopped', async () => {
    catalog();
    node.install('bitcoin-knots', 'stopped');
    const s = await change('lnd', 'install');
    expect(intents(s)).toEqual({ 'bitcoin-knots': 'stopped', lnd: 'running' });
  });

  it('refuses a second provider of an installed interface, naming the current one', async () => {
    catalog();
    node.install('bitcoin-core');
    await refused(
      'bitcoin-knots',
      'install',
      'bitcoin-knots provides bitcoind, which bitcoin-core already provides on this node (one provider per interface): ' +
        'uninstall bitcoin-core first, or install bitcoin-knots --replace (its dependents then use bitcoin-knots)',
    );
  });

  it('--replace uninstalls the current provider (its data kept); its dependents stay', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd');
    const s = await change('bitcoin-knots', 'install', { replace: true });
    expect(intents(s)).toEqual({
      'bitcoin-core': 'absent purge=false',
      lnd: 'running',
      'bitcoin-knots': 'running',
    });
  });
});

describe('stop, uninstall and purge of a provider with dependents', () => {
  it('refuses to stop a provider while apps that need it run, naming them all', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd');
    node.install('btcpay');
    await refused(
      'bitcoin-core',
      'stop',
      'btcpay, lnd need bitcoin-core (running): stop them first, or stop bitcoin-core --cascade',
    );
    await refused('lnd', 'stop', 'btcpay needs lnd (running): stop it first, or stop lnd --cascade');
  });

  it('stops a provider whose dependents are stopped already', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd', 'stopped');
    const s = await change('bitcoin-core', 'stop');
    expect(intents(s)).toEqual({ 'bitcoin-core': 'stopped', lnd: 'stopped' });
  });

  it('stop --cascade stops the dependents too', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd');
    node.install('btcpay');
    const s = await change('bitcoin-core', 'stop', { cascade: true });
    expect(intents(s)).toEqual({ 'bitcoin-core': 'stopped', lnd: 'stopped', btcpay: 'stopped' });
  });

  it('refuses to uninstall or purge a provider while apps that need it are installed (stopped ones too)', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd', 'stopped');
    await refused(
      'bitcoin-core',
      'uninstall',
      'lnd needs bitcoin-core (installed): uninstall it first, or uninstall bitcoin-core --cascade',
    );
    await refused(
      'bitcoin-core',
      'purge',
      'lnd needs bitcoin-core (installed): uninstall it first, or uninstall --purge bitcoin-core --cascade',
    );
  });

  it('uninstall --cascade uninstalls the dependents, their data kept', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd');
    node.install('btcpay', 'stopped');
    const s = await change('bitcoin-core', 'uninstall', { cascade: true });
    expect(intents(s)).toEqual({
      'bitcoin-core': 'absent purge=false',
      lnd: 'absent purge=false',
      btcpay: 'absent purge=false',
    });
  });

  it('purge --cascade purges the provider only: the dependents keep their data', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd');
    const s = await change('bitcoin-core', 'purge', { cascade: true });
    expect(intents(s)).toEqual({ 'bitcoin-core': 'absent purge=true', lnd: 'absent purge=false' });
  });

  it('a provider that is not the current one has no dependents to protect', async () => {
    catalog();
    node.install('bitcoin-core');
    node.install('lnd');
    // Installed anyway (by hand): bitcoin-core, first by id, is the provider.
    node.install('bitcoin-knots');
    const s = await change('bitcoin-knots', 'stop');
    expect(intents(s)).toEqual({ 'bitcoin-core': 'running', lnd: 'running', 'bitcoin-knots': 'stopped' });
  });
});
