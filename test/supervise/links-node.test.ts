import { afterEach, describe, expect, it } from 'vitest';
import { needsPodman } from '../../src/supervise/plan-steps.js';
import { loadDesired } from '../../src/supervise/load-desired.js';
import { readState } from '../../src/supervise/state-store.js';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import type { Desired, DesiredApp } from '../../src/supervise/types.js';
import { app, container, unit } from './fake-systemd.js';
import { fakeNode, TEST_FACTS, type FakeNode } from './fake-adapters.js';

// Apps that need apps, at the node's level: what a waiting dependent costs a pass, and node
// facts that change under an installed app.

let node: FakeNode | undefined;
afterEach(() => node?.cleanup());

const BTC = { iface: 'bitcoind', provider: 'bitcoin-core', service: 'bitcoin-core.service' };

function withContainer(id: string, intent: DesiredApp['intent'], waitsFor: Array<typeof BTC> = []): DesiredApp {
  const a = app(id, intent, [id]);
  a.rendered!.containers = [container(id, { waitsFor })];
  return a;
}

describe('a node with apps that need apps', () => {
  it('asks Podman nothing for a dependent that waits for a provider the user stopped', () => {
    const desired: Desired = {
      apps: [withContainer('bitcoin-core', 'stopped'), withContainer('lnd', 'running', [BTC])],
    };
    const units = { 'bitcoin-core.service': unit('inactive'), 'lnd.service': unit('inactive') };
    expect(needsPodman(desired, units)).toBe(false);
    // The provider should run: this pass starts it (and may need Podman for that).
    desired.apps[0]!.intent = 'running';
    expect(needsPodman(desired, units)).toBe(true);
    // Provider up, dependent down: the dependent is on its way, Podman is asked.
    desired.apps[0]!.intent = 'stopped';
    units['bitcoin-core.service'] = unit('active');
    expect(needsPodman(desired, units)).toBe(true);
  });

  it('renders an app again when a node fact it uses changes, and only then', async () => {
    node = fakeNode();
    const dir = `${node.paths.appsDir}/facts`;
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(dir);
    writeFileSync(
      `${dir}/manifest.yml`,
      [
        'schemaVersion: 1',
        'id: facts',
        'name: Facts',
        'version: "1"',
        'containers:',
        '  - name: facts',
        '    image: localhost/busybox:latest',
        '    command: ["httpd", "-f", "--url=http://{{node.mdnsName}}:8080"]',
        '    environment:',
        '      LAN: "{{node.lanAddress}}"',
        '',
      ].join('\n'),
    );
    node.install('facts');
    node.install('web');
    const state = await readState(node.paths.stateDir);
    let loads = 0;
    const load = (facts: typeof TEST_FACTS | Record<string, string>) =>
      loadDesired(node!.paths, state, {
        writeCache: true,
        build: 'b1',
        facts: facts as typeof TEST_FACTS,
        validator: async () => {
          loads++;
          return createManifestValidator();
        },
      });
    const file = (d: Desired, id: string) => d.apps.find((a) => a.id === id)!.rendered!.files[0]!.content;
    const first = await load(TEST_FACTS);
    expect(file(first, 'facts')).toContain('Environment="LAN=192.168.1.20"');
    expect(file(first, 'facts')).toContain('"--url=http://archy-test.local:8080"');
    const again = await load(TEST_FACTS);
    expect(loads).toBe(1); // nothing changed: no YAML
    expect(again).toEqual(first);
    const moved = await load({ ...TEST_FACTS, lanAddress: '192.168.1.77' });
    expect(file(moved, 'facts')).toContain('Environment="LAN=192.168.1.77"');
    expect(file(moved, 'web')).toBe(file(first, 'web')); // web uses no fact: the same file
  });
});
