import { describe, expect, it } from 'vitest';
import {
  liveProcessName,
  networkBreakagesOf,
  parseDnsMembers,
  parsePidFile,
  parseRefCount,
  type NetworkHelpersProbe,
} from '../../src/podman-heal/network-helpers.js';
import { planSteps } from '../../src/supervise/plan-steps.js';
import type { Desired } from '../../src/supervise/types.js';
import { app, converged } from '../supervise/fake-systemd.js';

const ID = (c: string) => c.repeat(64).slice(0, 64);

// An aardvark-dns network file as netavark writes it (measured, Podman 5.4.2).
const N1 = `10.89.0.1\n${ID('a')} 10.89.0.6  stack-db,database,${ID('a').slice(0, 12)}\n${ID('b')} 10.89.0.7  stack-api,backend,${ID('b').slice(0, 12)}\n`;

const healthy: NetworkHelpersProbe = {
  rootlessNetns: { users: 2, helper: { pid: 100, name: 'pasta.avx2' } },
  dns: { helper: { pid: 101, name: 'aardvark-dns' }, members: { 'systemd-stack': ['stack-db', 'stack-api'] } },
};

describe('network helpers: what their files say', () => {
  it('reads the containers of a network from its aardvark-dns file, its own name first', () => {
    expect(parseDnsMembers(N1)).toEqual(['stack-db', 'stack-api']);
    expect(parseDnsMembers('10.89.0.1\n')).toEqual([]);
    expect(parseDnsMembers('')).toEqual([]);
  });

  it('reads pid files and the ref-count, refusing what is not a number', () => {
    expect(parsePidFile('22938')).toBe(22938);
    expect(parsePidFile('22938\n')).toBe(22938);
    expect(parsePidFile('')).toBeUndefined();
    expect(parsePidFile('0')).toBeUndefined();
    expect(parsePidFile('12 13')).toBeUndefined();
    expect(parseRefCount('2\n')).toBe(2);
    expect(parseRefCount('x')).toBe(0);
  });

  it('takes a zombie for gone: netavark would take it for alive', () => {
    expect(liveProcessName('22938 (aardvark-dns) S 1 22938 ...')).toBe('aardvark-dns');
    expect(liveProcessName('22938 (aardvark-dns) Z 1 22938 ...')).toBeUndefined();
    expect(liveProcessName('7 (a (b) c) R 1 ...')).toBe('a (b) c');
  });
});

describe('network helpers: breakages', () => {
  it('finds none while both helpers run', () => {
    expect(networkBreakagesOf(healthy, ['stack-db', 'stack-api'])).toEqual([]);
  });

  it("finds the namespace's pasta gone (no process, or another one under its pid)", () => {
    for (const helper of [undefined, { pid: 100 }, { pid: 100, name: 'bash' }]) {
      const p = { ...healthy, rootlessNetns: { users: 2, ...(helper ? { helper } : {}) } };
      const b = networkBreakagesOf(p, ['stack-db']);
      expect(b.map((x) => x.kind)).toEqual(['network-helper-gone']);
      expect(b[0]!.detail).toMatch(/pasta.* is gone: 1 container\(s\) on systemd-stack cannot reach the host/);
    }
  });

  it('finds aardvark-dns gone, naming the networks and our containers on them', () => {
    const p = { ...healthy, dns: { ...healthy.dns!, helper: { pid: 101 } } };
    expect(networkBreakagesOf(p, ['stack-db', 'stack-api'])).toEqual([
      {
        kind: 'dns-helper-gone',
        networks: ['systemd-stack'],
        containers: ['stack-db', 'stack-api'],
        detail: "aardvark-dns (pid 101) is gone: containers on systemd-stack cannot resolve each other's names",
      },
    ]);
  });

  it('is none of our business when no container of ours is on those networks', () => {
    const broken: NetworkHelpersProbe = {
      rootlessNetns: { users: 1 },
      dns: { members: { theirs: ['their-db'] } },
    };
    expect(networkBreakagesOf(broken, ['stack-db'])).toEqual([]);
    expect(networkBreakagesOf(broken, [])).toEqual([]);
  });

  it('does not restart a helper of a namespace that is gone itself (nothing to start it in)', () => {
    const p: NetworkHelpersProbe = { dns: healthy.dns! };
    expect(networkBreakagesOf(p, ['stack-db'])).toEqual([]);
  });
});

describe('network helpers: the steps a pass takes', () => {
  const d: Desired = { apps: [app('stack', 'running', ['db', 'api'])] };

  it('restarts the namespace helper first, and aardvark-dns only once it runs', () => {
    const o = converged(d.apps);
    o.networkHelpers = {
      rootlessNetns: { users: 2, helper: { pid: 100 } },
      dns: { members: { 'systemd-stack': ['stack-db', 'stack-api'] } },
    };
    expect(planSteps(d, o)).toEqual([
      { kind: 'restartNetnsHelper', reason: expect.stringMatching(/pasta \(pid 100\) is gone/) },
    ]);
    o.networkHelpers.rootlessNetns!.helper = { pid: 200, name: 'pasta' };
    expect(planSteps(d, o)).toEqual([
      {
        kind: 'restartDnsHelper',
        container: 'stack-db',
        reason: expect.stringMatching(/aardvark-dns is gone: containers on systemd-stack/),
      },
    ]);
    o.networkHelpers.dns!.helper = { pid: 201, name: 'aardvark-dns' };
    expect(planSteps(d, o)).toEqual([]);
  });

  it('reloads the network of a container of ours that runs, never of one still starting or not ours', () => {
    const o = converged(d.apps);
    o.units['stack-db.service'] = { ...o.units['stack-db.service']!, activeState: 'activating', subState: 'start' };
    o.networkHelpers = {
      rootlessNetns: { users: 2, helper: { pid: 100, name: 'pasta' } },
      dns: { members: { 'systemd-stack': ['their-web', 'stack-db', 'stack-api'] } },
    };
    const steps = planSteps(d, o).filter((s) => s.kind === 'restartDnsHelper');
    expect(steps).toMatchObject([{ kind: 'restartDnsHelper', container: 'stack-api' }]);
  });

  it('plans nothing when the helpers were not looked at, or when the apps that need them are stopped', () => {
    expect(planSteps(d, converged(d.apps))).toEqual([]);
    const stopped: Desired = { apps: [app('stack', 'stopped', ['db', 'api'])] };
    const o = converged(stopped.apps, 'inactive');
    o.networkHelpers = { rootlessNetns: { users: 1 }, dns: { members: { 'systemd-stack': ['stack-db'] } } };
    expect(planSteps(stopped, o)).toEqual([]);
  });
});
