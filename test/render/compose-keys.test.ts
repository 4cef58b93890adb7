import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { toAppSpec } from '../../src/manifest/app-spec.js';
import type { ContainerSpec, Manifest } from '../../src/manifest/types.js';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';
import { renderApp } from '../../src/render/render-app.js';

// The compose features that map to one Quadlet key each: init (RunInit=), shmSize (ShmSize=),
// extraHosts (AddHost=), ulimits (Ulimit=). Each is validated as a manifest and rendered.

const validator = createManifestValidator();
const options = { startAtBoot: false, source: 'demo.yml', appDir: '/a', dataDir: '/d' };

function manifestWith(extra: Partial<ContainerSpec>): Manifest {
  return {
    schemaVersion: 1,
    id: 'demo',
    name: 'Demo',
    version: '1.0.0',
    containers: [{ name: 'demo', image: 'docker.io/library/busybox:1', ...extra }],
  };
}

/** The [Container] lines of the one rendered .container file. */
function containerLines(m: Manifest): string[] {
  const result = validator.validate(stringify(m), 'demo.yml', 'demo');
  expect(result.ok ? [] : result.errors.map(formatManifestError)).toEqual([]);
  const [file] = renderApp(toAppSpec(m), options);
  return file!.content.split('[Container]\n')[1]!.split('\n\n')[0]!.trim().split('\n');
}

/** The [Container] lines with one of the given keys. */
function linesOf(m: Manifest, ...keys: string[]): string[] {
  return containerLines(m).filter((line) => keys.includes(line.split('=')[0]!));
}

describe('compose features as Quadlet [Container] keys', () => {
  it('writes none of the keys when no field is set', () => {
    expect(linesOf(manifestWith({}), 'RunInit', 'ShmSize', 'AddHost', 'Ulimit')).toEqual([]);
  });

  it('init: true is RunInit=true; false writes nothing', () => {
    expect(linesOf(manifestWith({ init: true }), 'RunInit')).toEqual(['RunInit=true']);
    expect(linesOf(manifestWith({ init: false }), 'RunInit')).toEqual([]);
  });

  it('shmSize is ShmSize= in bytes', () => {
    expect(linesOf(manifestWith({ shmSize: '256Mi' }), 'ShmSize')).toEqual(['ShmSize=268435456']);
    expect(linesOf(manifestWith({ shmSize: '1Gi' }), 'ShmSize')).toEqual(['ShmSize=1073741824']);
  });

  it('extraHosts is one AddHost=name:address per entry, sorted by name, IPv6 bare', () => {
    const m = manifestWith({
      extraHosts: {
        'host.docker.internal': 'host-gateway',
        'bitcoind.local': '10.21.21.8',
        'v6.example': '2001:db8::1',
      },
    });
    expect(linesOf(m, 'AddHost')).toEqual([
      'AddHost=bitcoind.local:10.21.21.8',
      'AddHost=host.docker.internal:host-gateway',
      'AddHost=v6.example:2001:db8::1',
    ]);
  });

  it('ulimits is one Ulimit=name=soft:hard per entry, sorted by name; a single number is both', () => {
    const m = manifestWith({ ulimits: { nofile: { soft: 1024, hard: 65536 }, core: 0, memlock: -1 } });
    expect(linesOf(m, 'Ulimit')).toEqual(['Ulimit=core=0:0', 'Ulimit=memlock=-1:-1', 'Ulimit=nofile=1024:65536']);
  });

  it('places the keys in the order of the table, all at once', () => {
    const m = manifestWith({
      init: true,
      shmSize: '64Mi',
      extraHosts: { electrs: '10.0.0.2' },
      ulimits: { nofile: 4096 },
      ports: [{ containerPort: 80, hostPort: 8080 }],
      readOnly: true,
    });
    expect(linesOf(m, 'PublishPort', 'AddHost', 'ReadOnly', 'RunInit', 'ShmSize', 'Ulimit')).toEqual([
      'PublishPort=8080:80',
      'AddHost=electrs:10.0.0.2',
      'ReadOnly=true',
      'RunInit=true',
      'ShmSize=67108864',
      'Ulimit=nofile=4096:4096',
    ]);
  });
});

describe('compose feature validation', () => {
  const errors = (extra: Record<string, unknown>) => {
    const result = validator.validate(stringify(manifestWith(extra as Partial<ContainerSpec>)), 'demo.yml', 'demo');
    return result.ok ? [] : result.errors.map((e) => `${e.field}: ${e.message}`);
  };

  it('accepts IPv4, IPv6 and host-gateway addresses, and refuses others', () => {
    expect(errors({ extraHosts: { a: '127.0.0.1', b: '::1', c: '::ffff:10.0.0.1', d: 'host-gateway' } })).toEqual([]);
    expect(errors({ extraHosts: { a: '10.0.0.256', b: '1::2::3', c: '01.2.3.4' } })).toEqual([
      'containers[0].extraHosts.a: must be an IPv4 or IPv6 address, or host-gateway',
      'containers[0].extraHosts.b: must be an IPv4 or IPv6 address, or host-gateway',
      'containers[0].extraHosts.c: must be an IPv4 or IPv6 address, or host-gateway',
    ]);
    expect(errors({ extraHosts: { a: 'fe80::1%eth0' } })).toEqual([
      'containers[0].extraHosts.a: must be an IPv4 or IPv6 address, or host-gateway',
    ]);
  });

  it('refuses the same host name twice in another case (/etc/hosts ignores case)', () => {
    expect(errors({ extraHosts: { electrs: '10.0.0.2', Electrs: '10.0.0.3' } })).toEqual([
      'containers[0].extraHosts.Electrs: "Electrs" is already listed as "electrs" (host names ignore case)',
    ]);
  });

  it('refuses a host name that is not a DNS name', () => {
    expect(
      errors({ extraHosts: { 'a b': '10.0.0.1', '-x': '10.0.0.1', 'a..b': '10.0.0.1', 'x:y': '10.0.0.1' } }),
    ).toEqual(
      ['a b', '-x', 'a..b', 'x:y'].map(
        (h) =>
          `containers[0].extraHosts["${h}"]: "${h}": host names are DNS labels (letters, digits, inner hyphens) separated by dots`,
      ),
    );
  });

  it('refuses a soft limit above the hard one, and unknown limit names', () => {
    expect(errors({ ulimits: { nofile: { soft: 2, hard: 1 } } })).toEqual([
      'containers[0].ulimits.nofile.soft: must not be above the hard limit (1)',
    ]);
    expect(errors({ ulimits: { nofile: { soft: -1, hard: 1 } } })).toEqual([
      'containers[0].ulimits.nofile.soft: must not be above the hard limit (1): -1 is the most Podman may set',
    ]);
    expect(errors({ ulimits: { nofile: { soft: 1, hard: -1 }, stack: { soft: 8, hard: 8 } } })).toEqual([]);
    expect(errors({ ulimits: { files: 1 } })[0]).toMatch(/^containers\[0\]\.ulimits\.files: "files": ulimit names are/);
    expect(errors({ ulimits: { nofile: { soft: 1 } } })).toEqual([
      'containers[0].ulimits.nofile: must be a whole number >= -1, or soft: and hard: whole numbers >= -1',
    ]);
  });
});
