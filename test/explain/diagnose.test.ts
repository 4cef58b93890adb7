import { describe, expect, it } from 'vitest';
import { diagnose, type AppEvidence, type UnitEvidence } from '../../src/explain/diagnose.js';
import { redactManifest } from '../../src/explain/gather-evidence.js';
import type { UnitStatus } from '../../src/supervise/types.js';

const status = (s: Partial<UnitStatus>): UnitStatus => ({
  loadState: 'loaded',
  activeState: 'active',
  subState: 'running',
  result: 'success',
  needDaemonReload: false,
  nRestarts: 0,
  execMainStatus: 0,
  execMainStartMono: 1,
  activeEnterMono: 1,
  inactiveEnterMono: 0,
  ...s,
});
const unit = (u: Partial<UnitEvidence> = {}): UnitEvidence => ({
  unit: 'web.service',
  file: 'web.container',
  container: 'web',
  status: status({}),
  image: 'docker.io/library/nginx:1.27',
  pullNever: false,
  readiness: true,
  stopTimeoutSec: 10,
  hostPorts: [8080],
  requires: [],
  imagePresent: true,
  missingSecrets: [],
  portsInUse: [],
  journal: [],
  ...u,
});
const app = (...units: UnitEvidence[]): AppEvidence => ({
  app: 'web',
  units,
  unprivilegedPortStart: 1024,
  subidsOk: true,
});
const sigs = (e: AppEvidence) => diagnose(e).map((f) => f.signature);

describe('explain: known failure signatures', () => {
  it('finds nothing wrong in a running app', () => {
    expect(diagnose(app(unit()))).toEqual([]);
  });

  it('names the provider a dependent waits for, and the verb that starts it', () => {
    const waiting = unit({
      status: status({ activeState: 'inactive', subState: 'dead' }),
      providers: [{ iface: 'bitcoind', provider: 'bitcoin-core', activeState: 'inactive' }],
    });
    expect(diagnose(app(waiting))).toContainEqual({
      unit: 'web.service',
      signature: 'provider-down',
      cause:
        'web.service needs bitcoind, which bitcoin-core provides, and bitcoin-core is stopped: it waits ' +
        '(a dependent never starts its provider), and starts once the provider is up',
      fix: 'archy-quadlet start bitcoin-core',
    });
    const starting = unit({
      status: status({ activeState: 'inactive', subState: 'dead' }),
      providers: [{ iface: 'bitcoind', provider: 'bitcoin-core', activeState: 'activating' }],
    });
    expect(sigs(app(starting))).not.toContain('provider-down');
  });

  it.each<[string, AppEvidence, string, RegExp]>([
    [
      'exit 125',
      app(unit({ status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 125 }) })),
      'exit-125',
      /journalctl/,
    ],
    [
      'exit 126',
      app(unit({ status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 126 }) })),
      'exit-126',
      /file modes/,
    ],
    [
      'exit 127',
      app(unit({ status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 127 }) })),
      'exit-127',
      /command\/entrypoint/,
    ],
    [
      'exit 137 (killed)',
      app(unit({ status: status({ activeState: 'failed', result: 'signal', execMainStatus: 137 }) })),
      'exit-137',
      /memory/,
    ],
    [
      'exit 137 after a stop',
      app(unit({ status: status({ activeState: 'inactive', result: 'success', execMainStatus: 137 }) })),
      'stop-timeout',
      /SIGTERM/,
    ],
    [
      "exit 137 after a stop, known from Podman's events",
      app(
        unit({
          status: status({ activeState: 'inactive', result: 'success', execMainStatus: 0, execMainStartMono: 0 }),
          lastExit: { code: 137, atMs: 1 },
        }),
      ),
      'stop-timeout',
      /SIGTERM/,
    ],
    [
      'exit 143',
      app(unit({ status: status({ activeState: 'inactive', result: 'success', execMainStatus: 143 }) })),
      'exit-143',
      /on purpose/,
    ],
    [
      'unsupported key',
      app(
        unit({
          status: status({ loadState: 'not-found', activeState: 'inactive' }),
          generatorError: 'converting "web.container": unsupported key \'Memory\'',
        }),
      ),
      'unsupported-key',
      /archy-quadlet validate web/,
    ],
    [
      'no such secret',
      app(
        unit({
          status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 125 }),
          missingSecrets: ['web-token'],
        }),
      ),
      'no-such-secret',
      /archy-quadlet reconcile/,
    ],
    [
      'short-name',
      app(
        unit({
          status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 125 }),
          image: 'nginx:1.27',
          imagePresent: false,
        }),
      ),
      'short-name',
      /fully qualified/,
    ],
    [
      'image missing, Pull=never',
      app(
        unit({
          status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 125 }),
          image: 'localhost/nothing:1',
          imagePresent: false,
          pullNever: true,
        }),
      ),
      'image-missing',
      /podman pull localhost\/nothing:1/,
    ],
    [
      'rootlessport: privileged port',
      app(
        unit({ hostPorts: [80], status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 126 }) }),
      ),
      'rootlessport',
      /ip_unprivileged_port_start/,
    ],
    [
      'rootlessport: port in use',
      app(
        unit({
          portsInUse: [8080],
          status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 126 }),
        }),
      ),
      'rootlessport',
      /ss -ltnp/,
    ],
    [
      'newuidmap',
      {
        ...app(unit({ status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 125 }) })),
        subidsOk: false,
      },
      'newuidmap',
      /usermod/,
    ],
    [
      'dependency',
      app(
        unit({ unit: 'db.service', status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 1 }) }),
        unit({ status: status({ activeState: 'inactive', execMainStartMono: 0 }), requires: ['db.service'] }),
      ),
      'dependency',
      /that unit's failure first/,
    ],
    [
      'health never passed',
      app(
        unit({
          status: status({ activeState: 'activating', subState: 'start' }),
          health: { status: 'starting', failingStreak: 4, lastOutput: 'connection refused' },
        }),
      ),
      'health',
      /podman logs web/,
    ],
    [
      'start limit',
      app(unit({ status: status({ activeState: 'failed', result: 'start-limit-hit', execMainStatus: 137 }) })),
      'start-limit',
      /backoff/,
    ],
  ])('%s', (_, evidence, signature, fix) => {
    const found = diagnose(evidence).find((f) => f.signature === signature);
    expect(found, JSON.stringify(diagnose(evidence))).toBeDefined();
    expect(found!.fix).toMatch(fix);
  });

  it('does not blame a starting unit for the exit of a container that is gone', () => {
    const e = app(
      unit({
        status: status({ activeState: 'activating', subState: 'start', execMainStatus: 0 }),
        lastExit: { code: 137, atMs: 1 },
        health: { status: 'starting', failingStreak: 1 },
      }),
    );
    expect(sigs(e)).toEqual(['health']);
  });

  it("reads signatures from the unit's log when there is one", () => {
    const e = app(
      unit({
        status: status({ activeState: 'failed', result: 'exit-code', execMainStatus: 125 }),
        journal: ['Error: rootlessport listen tcp 0.0.0.0:80: bind: permission denied'],
      }),
    );
    expect(diagnose(e).find((f) => f.signature === 'rootlessport')).toMatchObject({
      evidence: 'Error: rootlessport listen tcp 0.0.0.0:80: bind: permission denied',
    });
    expect(sigs(e)).toContain('exit-125');
  });

  it('redacts credential-looking values of a manifest, and keeps the rest', () => {
    const out = redactManifest(
      'id: x\ncontainers:\n  - name: db\n    environment:\n      POSTGRES_PASSWORD: hunter2\n      POSTGRES_USER: immich\n    apiKey: abc\n',
    );
    expect(out).not.toContain('hunter2');
    expect(out).not.toContain('abc');
    expect(out).toContain('POSTGRES_USER: immich');
    expect(out).toContain('POSTGRES_PASSWORD: <redacted>');
  });
});
