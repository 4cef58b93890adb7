import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { changeIntent, IntentError, type LinkOptions } from '../../src/supervise/intents.js';
import type { SupervisorState } from '../../src/supervise/state-store.js';
import { fakeNode, type FakeNode } from './fake-adapters.js';

// install against the installed apps: an app (or a dependency --with-dependencies would
// install) that publishes a host port an installed app publishes is refused, naming both apps
// and both positions. The fake node's catalog is the lab's (web publishes 127.0.0.1:18081, at
// line 12 of its manifest) and the apps below.

const lines = (...l: string[]) => `${l.join('\n')}\n`;

/** An app whose one port is at line 9 + head.length, column 9. */
const app = (id: string, port: string[], head: string[] = []) =>
  lines(
    'schemaVersion: 1',
    `id: ${id}`,
    'name: App',
    'version: "1.0.0"',
    ...head,
    'containers:',
    `  - name: ${id}`,
    '    image: docker.io/library/busybox:latest',
    '    ports:',
    ...port,
  );
const provides = (iface: string, container: string, isDefault = true) => [
  'provides:',
  `  ${iface}:`,
  `    container: ${container}`,
  '    port: 80',
  `    default: ${isDefault}`,
];
const requires = (iface: string) => ['requires:', `  ${iface}: {}`];
const on = (hostPort: number, hostIp?: string) => [
  `      - hostPort: ${hostPort}`,
  '        containerPort: 80',
  ...(hostIp ? [`        hostIp: ${hostIp}`] : []),
];

const APPS: Record<string, string> = {
  // Before and after "web" in id order: the catalog check reports only the later one, the
  // install check either.
  'clash-a': app('clash-a', on(18081)),
  'zz-late': app('zz-late', on(18081)),
  'other-ip': app('other-ip', on(18081, '127.0.0.2')),
  // A default provider that clashes with web, and an app that needs it.
  'svc-main': app('svc-main', on(18081), provides('svc', 'svc-main')),
  'svc-user': app('svc-user', on(18500), requires('svc')),
  // A provider and its dependent on one port: installed together, the second would fail.
  'pair-provider': app('pair-provider', on(18300), provides('pair', 'pair-provider')),
  'pair-user': app('pair-user', on(18300), requires('pair')),
  // Alternatives: one port, one installed at a time.
  'alt-one': app('alt-one', on(18400), provides('alt', 'alt-one')),
  'alt-two': app('alt-two', on(18400), provides('alt', 'alt-two', false)),
};

let node: FakeNode;
afterEach(() => node?.cleanup());

function catalog(): FakeNode {
  node = fakeNode();
  for (const [id, text] of Object.entries(APPS)) {
    mkdirSync(join(node.paths.appsDir, id), { recursive: true });
    writeFileSync(join(node.paths.appsDir, id, 'manifest.yml'), text);
  }
  return node;
}
const at = (id: string, line: number) => `${node.paths.appsDir}/${id}/manifest.yml:${line}:9`;
const WEB = () => at('web', 12);

const stateFile = () => join(node.paths.stateDir, 'state.json');
const readStateText = () => (existsSync(stateFile()) ? readFileSync(stateFile(), 'utf8') : '');
const intents = (s: SupervisorState) =>
  Object.fromEntries(
    Object.entries(s.apps).map(([id, a]) => [id, a.purge === undefined ? a.intent : `${a.intent} purge=${a.purge}`]),
  );

/** Installs, and returns the state as the verb wrote it, before its pass can move on. */
async function install(appId: string, links: LinkOptions = {}): Promise<SupervisorState> {
  const before = readStateText();
  let release!: () => void;
  node.sv.systemctl.gate = new Promise<void>((r) => {
    release = r;
  });
  let settled = false;
  const pass = changeIntent(node.sv, appId, 'install', links).finally(() => {
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

/** Expects the install to be refused with exactly this message, the state untouched. */
async function refused(appId: string, message: string, links: LinkOptions = {}) {
  const before = readStateText();
  const err = await changeIntent(node.sv, appId, 'install', links).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(IntentError);
  expect((err as Error).message).toBe(message);
  expect(readStateText()).toBe(before);
}

describe('install and the host ports of the installed apps', () => {
  it('refuses an app that publishes a host port an installed app publishes, naming both and both positions', async () => {
    catalog();
    node.install('web');
    await refused(
      'clash-a',
      `clash-a publishes host port 18081/tcp (${at('clash-a', 9)}), which web already publishes on this node (${WEB()}): ` +
        'uninstall web first, or change the port of one of them',
    );
    await refused(
      'zz-late',
      `zz-late publishes host port 18081/tcp (${at('zz-late', 9)}), which web already publishes on this node (${WEB()}): ` +
        'uninstall web first, or change the port of one of them',
    );
  });

  it('a stopped app holds its ports too', async () => {
    catalog();
    node.install('web', 'stopped');
    await refused(
      'clash-a',
      `clash-a publishes host port 18081/tcp (${at('clash-a', 9)}), which web already publishes on this node (${WEB()}): ` +
        'uninstall web first, or change the port of one of them',
    );
  });

  it('installs an app whose ports clash only with apps not installed', async () => {
    catalog();
    expect(intents(await install('clash-a'))).toEqual({ 'clash-a': 'running' });
  });

  it('a reinstall is no clash with itself', async () => {
    catalog();
    node.install('clash-a', 'stopped');
    expect(intents(await install('clash-a'))).toEqual({ 'clash-a': 'running' });
  });

  it('installs an app on the same port of another host address', async () => {
    catalog();
    node.install('web'); // 127.0.0.1; other-ip is on 127.0.0.2
    expect(intents(await install('other-ip'))).toEqual({ web: 'running', 'other-ip': 'running' });
  });

  it('an uninstalled app (intent absent) holds no ports', async () => {
    catalog();
    node.install('web');
    writeFileSync(
      stateFile(),
      JSON.stringify({ version: 1, apps: { web: { intent: 'absent', installedAt: '2026-01-01T00:00:00.000Z' } } }),
    );
    const s = await install('zz-late');
    expect(s.apps['zz-late']?.intent).toBe('running');
  });

  it('refuses a dependency --with-dependencies would install that clashes with an installed app', async () => {
    catalog();
    node.install('web');
    await refused(
      'svc-user',
      `svc-main publishes host port 18081/tcp (${at('svc-main', 14)}), which web already publishes on this node (${WEB()}): ` +
        'uninstall web first, or change the port of one of them',
      { withDependencies: true },
    );
  });

  it('refuses apps installed together that publish one host port', async () => {
    catalog();
    await refused(
      'pair-user',
      `pair-user publishes host port 18300/tcp (${at('pair-user', 11)}), which pair-provider, installed with it, ` +
        `also publishes (${at('pair-provider', 14)}): change the port of one of them`,
      { withDependencies: true },
    );
  });

  it('alternatives share ports: --replace uninstalls the current one', async () => {
    catalog();
    node.install('alt-one');
    const s = await install('alt-two', { replace: true });
    expect(intents(s)).toEqual({ 'alt-one': 'absent purge=false', 'alt-two': 'running' });
  });
});

describe('install records where and what', () => {
  it('the catalog and the version an app was installed from; a reinstall after an uninstall is a new install', async () => {
    catalog();
    let s = await install('clash-a');
    expect(s.apps['clash-a']).toMatchObject({
      intent: 'running',
      catalog: node.paths.appsDir,
      installedVersion: '1.0.0',
    });
    const first = s.apps['clash-a']!.installedAt;
    // Uninstalled (not forgotten yet: its units still stop), then installed again.
    const state = JSON.parse(readStateText()) as SupervisorState;
    state.apps['clash-a'] = {
      ...state.apps['clash-a']!,
      intent: 'absent',
      installedAt: '2020-01-01T00:00:00.000Z',
      hooksDone: { postInstall: 'install 2020-01-01T00:00:00.000Z' },
    };
    writeFileSync(stateFile(), JSON.stringify(state));
    s = await install('clash-a');
    expect(s.apps['clash-a']!.installedAt).not.toBe('2020-01-01T00:00:00.000Z');
    expect(s.apps['clash-a']!.hooksDone).toBeUndefined();
    expect(first).toBeDefined();
  });
});
