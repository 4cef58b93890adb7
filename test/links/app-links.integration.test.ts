import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { http, reboot, useLabNode } from '../support/node.js';

// Apps that need apps, in the lab, through the installed package: a provider of the "rpc"
// interface (busybox httpd demanding basic auth with its generated password: rpc-core, or
// its alternative rpc-knots) and a dependent (rpc-client) whose health check fetches from
// the provider by the interface's name with the provider's password, read by reference.
// rpc-client healthy = address and credentials both work. It serves what it fetched on 18093.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);
const outputs: string[] = [];

async function aq(args: string[], reject = true) {
  const r = await node().aq(args, { reject });
  outputs.push(r.stdout, r.stderr);
  return r;
}

const waitState = (app: string, state: string, timeoutMs = 90_000) =>
  waitFor(
    `${app} to be ${state}`,
    async () => ((await node().status(app))?.state === state ? true : undefined),
    timeoutMs,
    300,
  );

const fetched = (provider: string, timeoutMs = 90_000) =>
  waitFor(
    `rpc-client to fetch from ${provider}`,
    async () => ((await http(18093)) === `${provider}\n` ? true : undefined),
    timeoutMs,
    300,
  );

async function activeSince(unit: string): Promise<number> {
  const r = await asUser(['systemctl', '--user', 'show', '-P', 'ActiveEnterTimestampMonotonic', unit]);
  return Number(String(r.stdout).trim());
}

describe.runIf(enabled)('apps that need apps (lab)', () => {
  it('install of a dependent with no provider is refused, naming the providers', async () => {
    const r = await aq(['install', 'rpc-client'], false);
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(
      'rpc-client needs rpc, which no installed app provides: install one of rpc-core, rpc-knots first, ' +
        'or install rpc-client --with-dependencies',
    );
    expect(await node().status('rpc-client')).toBeUndefined();
  }, 60_000);

  it('--with-dependencies installs the default provider first; the dependent reaches it by name with its password', async () => {
    await aq(['install', 'rpc-client', '--with-dependencies', '--wait', '--timeout', '120']);
    await waitState('rpc-core', 'running');
    await waitState('rpc-client', 'running');
    await fetched('rpc-core');
    // The provider's RPC demands the password: without it, nothing (401).
    expect(await http(18091, '/')).toBe('rpc-core\n');
    expect(await http(18091, '/rpc/')).toBeUndefined();
    const unit = readFileSync(join(node().unitRoot, 'rpc-client/rpc-client.container'), 'utf8');
    expect(unit).toMatch(/^Requisite=rpc-core\.service$/m);
    expect(unit).toMatch(/^After=rpc-core\.service$/m);
    expect(unit).toMatch(/^Network=archy-node\.network$/m);
    expect(unit).toMatch(/^Secret="rpc-core-password,type=mount,target=\/run\/secrets\/rpc-password/m);
    expect(existsSync(join(node().unitRoot, '_node/archy-node.network'))).toBe(true);
    // No host port between them: the provider's RPC is reached on the node network.
    const s = (await aq(['status', 'rpc-client'])).stdout;
    expect(s).toContain('needs rpc: rpc-core');
  }, 180_000);

  it('a killed provider: the dependent is restarted with it and works again, without help', async () => {
    await asUser(['podman', 'kill', 'rpc-core']);
    await waitFor(
      'both back',
      async () => {
        const [p, d] = [await node().status('rpc-core'), await node().status('rpc-client')];
        return p?.state === 'running' && d?.state === 'running' ? true : undefined;
      },
      90_000,
      300,
    );
    await fetched('rpc-core');
  }, 120_000);

  it('stop or uninstall of a provider with a running dependent is refused, naming it', async () => {
    const stop = await aq(['stop', 'rpc-core'], false);
    expect(stop.exitCode).toBe(1);
    expect(stop.stderr).toContain('rpc-client needs rpc-core (running): stop it first, or stop rpc-core --cascade');
    const un = await aq(['uninstall', 'rpc-core'], false);
    expect(un.exitCode).toBe(1);
    expect(un.stderr).toContain('rpc-client needs rpc-core (installed)');
    const second = await aq(['install', 'rpc-knots'], false);
    expect(second.exitCode).toBe(1);
    expect(second.stderr).toContain('rpc-knots provides rpc, which rpc-core already provides on this node');
    expect((await node().status('rpc-core'))?.state).toBe('running');
  }, 60_000);

  it('a reboot brings the provider up before the dependent', async () => {
    await reboot();
    await waitState('rpc-core', 'running', 180_000);
    await waitState('rpc-client', 'running', 180_000);
    await fetched('rpc-core');
    expect(await activeSince('rpc-client.service')).toBeGreaterThan(await activeSince('rpc-core.service'));
  }, 400_000);

  it('switching to the alternative provider: the dependent follows it', async () => {
    await aq(['install', 'rpc-knots', '--replace', '--wait', '--timeout', '120']);
    await waitState('rpc-knots', 'running');
    await fetched('rpc-knots', 120_000);
    await waitState('rpc-client', 'running');
    expect(await node().status('rpc-core')).toBeUndefined();
    const unit = readFileSync(join(node().unitRoot, 'rpc-client/rpc-client.container'), 'utf8');
    expect(unit).toMatch(/^Requisite=rpc-knots\.service$/m);
    expect(unit).toMatch(/^Secret="rpc-knots-password,/m);
  }, 240_000);

  it('a user-stopped provider keeps its dependent waiting, not failing, across a reboot', async () => {
    await aq(['stop', 'rpc-knots', '--cascade', '--wait', '--timeout', '60']);
    expect((await node().status('rpc-client'))?.desired).toBe('stopped');
    const r = await aq(['start', 'rpc-client']);
    expect(r.stdout).toContain('waiting for rpc (rpc-knots is stopped)');
    await reboot();
    await aq(['reconcile'], false);
    const s = await node().status('rpc-client');
    expect(s).toMatchObject({ desired: 'running', state: 'waiting' });
    expect(s!.units.every((u) => u.activeState === 'inactive')).toBe(true);
    expect((await node().status('rpc-knots'))?.state).toBe('stopped');
    // The provider started by the user: its dependent follows in the same pass.
    await aq(['start', 'rpc-knots', '--wait', '--timeout', '120']);
    await waitState('rpc-client', 'running');
    await fetched('rpc-knots');
  }, 400_000);

  it('--cascade uninstalls the dependent first; the node network file stays', async () => {
    await aq(['uninstall', 'rpc-knots', '--cascade', '--wait', '--timeout', '120']);
    await waitFor(
      'both uninstalled',
      async () =>
        (await node().status('rpc-knots')) === undefined && (await node().status('rpc-client')) === undefined
          ? true
          : undefined,
      120_000,
      300,
    );
    expect(existsSync(join(node().unitRoot, 'rpc-client'))).toBe(false);
    expect(existsSync(join(node().unitRoot, '_node/archy-node.network'))).toBe(true);
    // Data kept: the secrets are still there (an uninstall never purges a dependent).
    const secrets = String((await asUser(['podman', 'secret', 'ls', '--noheading', '--format', '{{.Name}}'])).stdout);
    expect(secrets).toContain('rpc-knots-password');
  }, 180_000);

  it('no secret value appears in any output', async () => {
    for (const name of ['rpc-core-password', 'rpc-knots-password']) {
      const r = await asUser(['podman', 'secret', 'inspect', '--showsecret', '--format', '{{.SecretData}}', name], {
        reject: false,
      });
      const value = String(r.stdout).trim();
      if (r.exitCode !== 0 || value.length < 16) continue;
      for (const out of outputs) expect(out.includes(value)).toBe(false);
    }
  });
});
