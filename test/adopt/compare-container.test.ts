import { describe, expect, it } from 'vitest';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';
import type { AppSpec } from '../../src/manifest/app-spec.js';
import {
  adoptVerdict,
  compareContainer,
  formatAdoptReport,
  parseImageRef,
  parseInspect,
  restartPolicyOf,
  type AdoptReport,
} from '../../src/adopt/compare-container.js';

// `adopt` takes over a container started by hand (`podman run -d --restart=unless-stopped`)
// only when nothing it holds would be left behind: these compare `podman inspect` output
// (Podman 5.x shape, trimmed to realistic fields) with what the manifest renders.

const validator = createManifestValidator();
const SECRET = 's3cr3t-Rpc-Pa55w0rd-do-not-print';
const DATA_DIR = '/var/lib/archipelago/electrumx';

const manifest = (container: string) => `schemaVersion: 1
id: electrumx
name: ElectrumX
version: "1.16.0"
volumes:
  data: {}
secrets:
  rpc-password: {}
containers:
  - name: electrumx
${container}
`;

const ELECTRUMX = `    image: docker.io/lukechilds/electrumx:v1.16.0
    environment:
      COIN: BitcoinSegwit
      DB_DIRECTORY: /data
    secretEnvironment:
      DAEMON_PASSWORD: rpc-password
    volumes:
      - volume: data
        target: /data
    binds:
      - source: config
        target: /etc/electrumx
    ports:
      - hostPort: 50001
        containerPort: 50001`;

function appOf(container: string): AppSpec {
  const r = validator.validate(manifest(container), '/apps/electrumx/manifest.yml', 'electrumx');
  if (!r.ok) throw new Error(r.errors.map(formatManifestError).join('\n'));
  return r.app;
}

/** One element of `podman inspect electrumx`, as Podman 5.4 prints it (fields we do not read left out). */
function inspect(over: (j: InspectJson) => void = () => {}): InspectJson {
  const j: InspectJson = {
    Id: 'f3c1d2e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2',
    Created: '2024-11-02T10:11:12.123456789Z',
    Path: '/bin/sh',
    Args: ['-c', 'init'],
    State: { OciVersion: '1.2.0', Status: 'running', Running: true, Paused: false, Pid: 4242, ExitCode: 0 },
    Image: '8d0b7f4c2a1e',
    ImageName: 'docker.io/lukechilds/electrumx:v1.16.0',
    Name: 'electrumx',
    RestartCount: 0,
    Mounts: [
      {
        Type: 'volume',
        Name: 'electrumx-data',
        Source: '/home/archy/.local/share/containers/storage/volumes/electrumx-data/_data',
        Destination: '/data',
        Driver: 'local',
        Mode: '',
        Options: ['nosuid', 'nodev', 'rbind'],
        RW: true,
        Propagation: 'rprivate',
      },
      {
        Type: 'bind',
        Source: '/var/lib/archipelago/electrumx/config/',
        Destination: '/etc/electrumx',
        Driver: '',
        Mode: '',
        Options: ['rbind'],
        RW: true,
        Propagation: 'rprivate',
      },
    ],
    Config: {
      Hostname: 'f3c1d2e4a5b6',
      User: '',
      Env: [
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        'container=podman',
        'HOME=/root',
        'HOSTNAME=f3c1d2e4a5b6',
        'COIN=BitcoinSegwit',
        'DB_DIRECTORY=/data',
        `DAEMON_PASSWORD=${SECRET}`,
      ],
      Image: 'docker.io/lukechilds/electrumx:v1.16.0',
      Labels: { 'io.buildah.version': '1.33.7' },
    },
    HostConfig: {
      Binds: [
        'electrumx-data:/data:rw,rprivate,nosuid,nodev,rbind',
        '/var/lib/archipelago/electrumx/config/:/etc/electrumx:rw,rprivate,rbind',
      ],
      NetworkMode: 'bridge',
      PortBindings: { '50001/tcp': [{ HostIp: '', HostPort: '50001' }] },
      RestartPolicy: { Name: 'unless-stopped', MaximumRetryCount: 0 },
      UsernsMode: '',
    },
    NetworkSettings: { Networks: { podman: { IPAddress: '10.88.0.5' } } },
  };
  over(j);
  return j;
}

// biome-ignore lint/suspicious/noExplicitAny: inspect JSON fixtures are edited freely in these tests
type InspectJson = Record<string, any>;

function compare(j: InspectJson, container = ELECTRUMX, dataDir = DATA_DIR): AdoptReport {
  const app = appOf(container);
  return compareContainer(parseInspect(j), { app, plan: app.containers[0]!, dataDir });
}

function expectNoSecret(r: AdoptReport): void {
  expect(JSON.stringify(r)).not.toContain(SECRET);
  expect(formatAdoptReport(r)).not.toContain(SECRET);
  expect(JSON.stringify(adoptVerdict([r]))).not.toContain(SECRET);
}

describe('parseInspect', () => {
  it('reads the fields adoption needs from one element of podman inspect', () => {
    const c = parseInspect(inspect());
    expect(c).toMatchObject({
      name: 'electrumx',
      image: 'docker.io/lukechilds/electrumx:v1.16.0',
      user: '',
      userns: '',
      restartPolicy: 'unless-stopped',
      state: 'running',
      labels: { 'io.buildah.version': '1.33.7' },
      ports: [{ hostIp: '', hostPort: 50001, containerPort: 50001, protocol: 'tcp' }],
    });
    expect(c.env.COIN).toBe('BitcoinSegwit');
    expect(c.mounts).toEqual([
      {
        type: 'volume',
        name: 'electrumx-data',
        source: '/home/archy/.local/share/containers/storage/volumes/electrumx-data/_data',
        destination: '/data',
        rw: true,
      },
      { type: 'bind', source: '/var/lib/archipelago/electrumx/config/', destination: '/etc/electrumx', rw: true },
    ]);
  });

  it('reads on-failure with its retry count, as --restart takes it back on a rollback', () => {
    const policy = (Name: unknown, MaximumRetryCount: unknown) =>
      parseInspect({ HostConfig: { RestartPolicy: { Name, MaximumRetryCount } } }).restartPolicy;
    expect(policy('on-failure', 3)).toBe('on-failure:3');
    expect(policy('on-failure', 0)).toBe('on-failure');
    expect(policy('always', 5)).toBe('always');
    expect(policy('no', 0)).toBe('no');
    expect(policy(undefined, 'x')).toBe('');
    expect(restartPolicyOf('on-failure', '2')).toBe('on-failure:2');
  });

  it('is tolerant of missing fields, and reads --tmpfs mounts from HostConfig.Tmpfs', () => {
    expect(parseInspect({})).toEqual({
      name: '',
      image: '',
      env: {},
      user: '',
      userns: '',
      mounts: [],
      ports: [],
      restartPolicy: '',
      state: '',
      labels: {},
    });
    expect(parseInspect(null).mounts).toEqual([]);
    const c = parseInspect({ Config: { Image: 'alpine' }, HostConfig: { Tmpfs: { '/tmp': 'rw,size=64m' } } });
    expect(c.image).toBe('alpine');
    expect(c.mounts).toEqual([{ type: 'tmpfs', source: '', destination: '/tmp', rw: true }]);
  });
});

describe('compareContainer', () => {
  it('maps every mount when the manifest carries them over: nothing refuses', () => {
    const r = compare(inspect());
    expect(r.problems).toEqual([]);
    expect(r.mounts).toEqual([
      { existing: 'electrumx-data', destination: '/data', mappedTo: 'volumes[0] (volume data)' },
      { existing: '/var/lib/archipelago/electrumx/config', destination: '/etc/electrumx', mappedTo: 'binds[0]' },
    ]);
    expect(r.unmapped).toEqual([]);
    expect(r.missingInExisting).toEqual([]);
    expect(r.image).toEqual({
      existing: 'docker.io/lukechilds/electrumx:v1.16.0',
      manifest: 'docker.io/lukechilds/electrumx:v1.16.0',
      sameRepository: true,
      sameTag: true,
    });
    expect(r.ports).toEqual({ same: ['50001:50001/tcp'], onlyExisting: [], onlyManifest: [] });
    // PATH, HOME, HOSTNAME and container= are Podman's or the image's, not the user's.
    expect(r.env).toEqual({ onlyExisting: [], onlyManifest: [] });
    expect(r.user).toEqual({ existing: '', manifest: '', same: true });
    expect(r.userns).toEqual({ existing: '', same: true });
    expect(adoptVerdict([r])).toEqual({ ok: true, problems: [] });
    // The secret was plain env: it becomes a generated Podman secret, which the user must know.
    expect(r.notes).toContain(
      'DAEMON_PASSWORD would come from the secret electrumx-rpc-password, generated anew unless it is created first with the old value',
    );
    expect(r.notes.some((n) => n.startsWith('restart policy unless-stopped'))).toBe(true);
    expectNoSecret(r);
  });

  it('refuses an existing mount the manifest does not carry over (unmapped)', () => {
    const r = compare(
      inspect((j) =>
        j.Mounts.push({
          Type: 'bind',
          Source: '/var/lib/archipelago/electrumx/ssl',
          Destination: '/ssl',
          Options: ['rbind'],
          RW: true,
          Propagation: 'rprivate',
        }),
      ),
    );
    expect(r.unmapped).toEqual(['host directory /var/lib/archipelago/electrumx/ssl → /ssl']);
    expect(r.mounts).toContainEqual({ existing: '/var/lib/archipelago/electrumx/ssl', destination: '/ssl' });
    expect(r.problems).toEqual([
      'host directory /var/lib/archipelago/electrumx/ssl is mounted at /ssl, and the manifest mounts nothing there: its data would be left behind',
    ]);
    const v = adoptVerdict([r]);
    expect(v.ok).toBe(false);
    expect(v.problems).toEqual([`electrumx: ${r.problems[0]}`]);
  });

  it('refuses a destination the manifest mounts from another source', () => {
    // The manifest's relative bind lands under the XDG data dir, not where the data is today.
    const r = compare(inspect(), ELECTRUMX, '/home/archy/.local/share/archy-quadlet/data/electrumx');
    expect(r.problems).toEqual([
      '/etc/electrumx would be mounted from host directory /home/archy/.local/share/archy-quadlet/data/electrumx/config (binds[0]) instead of host directory /var/lib/archipelago/electrumx/config: its data would be left behind',
    ]);
    expect(r.mounts[1]).toEqual({ existing: '/var/lib/archipelago/electrumx/config', destination: '/etc/electrumx' });
    expect(r.unmapped).toEqual([]);
    expect(formatAdoptReport(r)).toContain(
      '  mount: /var/lib/archipelago/electrumx/config → /etc/electrumx: NOT CARRIED OVER',
    );
    // Another volume name at the same destination: the same refusal.
    const v = compare(
      inspect((j) => (j.Mounts[0].Name = 'electrumx_data')),
      ELECTRUMX,
    );
    expect(v.problems).toEqual([
      '/data would be mounted from volume electrumx-data (volumes[0] (volume data)) instead of volume electrumx_data: its data would be left behind',
    ]);
  });

  it('says which manifest mounts are new and empty, and ignores tmpfs and secret mounts with a note', () => {
    const r = compare(
      inspect((j) => {
        j.Mounts = [
          { Type: 'bind', Source: '/var/lib/archipelago/electrumx/config', Destination: '/etc/electrumx', RW: true },
          { Type: 'bind', Source: '/var/lib/archipelago/secrets/rpc', Destination: '/run/secrets/rpc', RW: false },
        ];
        j.HostConfig.Tmpfs = { '/tmp': 'rw,size=65536k' };
      }),
    );
    expect(r.problems).toEqual([]);
    expect(r.missingInExisting).toEqual(['volumes[0] (volume data) → /data: a new, empty volume electrumx-data']);
    expect(r.notes).toEqual(
      expect.arrayContaining([
        "mount /run/secrets/rpc is ignored: a secret, provided by the manifest's own secrets instead",
        'mount /tmp (tmpfs) is ignored: it holds no data that outlives the container',
        'volumes[0] (volume data) → /data: a new, empty volume electrumx-data (nothing of the old container is carried over there)',
      ]),
    );
  });

  it('refuses another image repository, and only notes another tag', () => {
    const other = compare(inspect((j) => (j.ImageName = 'docker.io/spesmilo/electrumx:v1.16.0')));
    expect(other.image.sameRepository).toBe(false);
    expect(other.problems).toEqual([
      'image: the container runs docker.io/spesmilo/electrumx:v1.16.0, the manifest runs docker.io/lukechilds/electrumx:v1.16.0: another repository may not read the same data',
    ]);
    // A short name is the same repository on docker.io.
    const tag = compare(inspect((j) => (j.ImageName = 'lukechilds/electrumx:v1.15.0')));
    expect(tag.image).toMatchObject({ sameRepository: true, sameTag: false });
    expect(tag.problems).toEqual([]);
    expect(tag.notes).toContain(
      'image: v1.15.0 would be replaced by v1.16.0 (same repository docker.io/lukechilds/electrumx)',
    );
  });

  it('notes port and environment differences by key, never by value', () => {
    const r = compare(
      inspect((j) => {
        j.HostConfig.PortBindings = {
          '50001/tcp': [{ HostIp: '0.0.0.0', HostPort: '50001' }],
          '50002/tcp': [{ HostIp: '127.0.0.1', HostPort: '50002' }],
        };
        j.Config.Env = j.Config.Env.filter((e: string) => !e.startsWith('DB_DIRECTORY=')).map((e: string) =>
          e.startsWith('COIN=') ? 'COIN=Bitcoin' : e,
        );
        j.Config.Env.push(`RPC_PASSWORD=${SECRET}`, 'CACHE_MB=2000');
      }),
      `${ELECTRUMX}
      - hostPort: 8000
        containerPort: 8000
        protocol: udp`,
    );
    expect(r.problems).toEqual([]);
    expect(r.ports).toEqual({
      same: ['50001:50001/tcp'],
      onlyExisting: ['127.0.0.1:50002:50002/tcp'],
      onlyManifest: ['8000:8000/udp'],
    });
    expect(r.env).toEqual({ onlyExisting: ['CACHE_MB', 'RPC_PASSWORD'], onlyManifest: ['DB_DIRECTORY'] });
    expect(r.notes).toEqual(
      expect.arrayContaining([
        'ports no longer published: 127.0.0.1:50002:50002/tcp',
        'ports newly published: 8000:8000/udp',
        'environment keys no longer set: CACHE_MB, RPC_PASSWORD',
        'environment keys newly set: DB_DIRECTORY',
        'environment values that change (not shown): COIN',
      ]),
    );
    expect(formatAdoptReport(r)).not.toContain('Bitcoin,');
    expect(formatAdoptReport(r)).not.toContain('=Bitcoin');
    expectNoSecret(r);
  });

  it('refuses another user or another user namespace', () => {
    const r = compare(
      inspect((j) => {
        j.Config.User = '1000:1000';
        j.HostConfig.UsernsMode = 'keep-id';
      }),
    );
    expect(r.user).toEqual({ existing: '1000:1000', manifest: '', same: false });
    expect(r.userns).toEqual({ existing: 'keep-id', same: false });
    expect(r.problems).toEqual([
      "user: the container runs as 1000:1000, the manifest as the image's default user: the files it wrote may not be readable",
      "user namespace: the container runs with --userns=keep-id, the manifest with Podman's default: its files would belong to other ids",
    ]);
    const host = compare(
      inspect((j) => (j.HostConfig.UsernsMode = 'host')),
      `${ELECTRUMX}\n    user: "1000:1000"`,
    );
    expect(host.userns.same).toBe(true);
    expect(host.user.same).toBe(false);
    expect(adoptVerdict([host]).ok).toBe(false);
  });
});

describe('adoptVerdict and formatAdoptReport', () => {
  it('refuses when there is nothing to adopt', () => {
    expect(adoptVerdict([])).toEqual({ ok: false, problems: ['no existing container to adopt'] });
  });

  it('prints a few lines, with every mount and its fate, and never an environment value', () => {
    const r = compare(
      inspect((j) =>
        j.Mounts.push({ Type: 'volume', Name: 'electrumx-ssl', Source: '/x/_data', Destination: '/ssl', RW: true }),
      ),
    );
    const text = formatAdoptReport(r);
    expect(text).toContain('electrumx: cannot be adopted');
    expect(text).toContain(
      '  image: docker.io/lukechilds/electrumx:v1.16.0 → docker.io/lukechilds/electrumx:v1.16.0 (same)',
    );
    expect(text).toContain('  mount: electrumx-data → /data: kept as volumes[0] (volume data)');
    expect(text).toContain('  mount: electrumx-ssl → /ssl: NOT CARRIED OVER');
    expect(text).toContain('  ports kept: 50001:50001/tcp');
    expect(text).toContain('  problem: volume electrumx-ssl is mounted at /ssl');
    expectNoSecret(r);
  });
});

describe('parseImageRef', () => {
  it('spells out Docker defaults and keeps digests', () => {
    expect(parseImageRef('alpine')).toEqual({ repository: 'docker.io/library/alpine', tag: 'latest' });
    expect(parseImageRef('localhost:5000/x/y:1')).toEqual({ repository: 'localhost:5000/x/y', tag: '1' });
    expect(parseImageRef('quay.io/a/b@sha256:abc')).toEqual({ repository: 'quay.io/a/b', tag: '@sha256:abc' });
  });

  it('refuses a container run with --rm: stopping it would delete it, and a rollback could not bring it back', () => {
    const r = compare(
      inspect((j) => {
        (j.HostConfig as Record<string, unknown>).AutoRemove = true;
      }),
    );
    expect(r.problems.some((p) => p.includes('--rm'))).toBe(true);
  });
});
