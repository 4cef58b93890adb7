import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';
import { checkCatalog } from '../../src/catalog/catalog-checks.js';
import type { CatalogApp } from '../../src/catalog/load-catalog.js';
import { validateCatalog } from '../../src/catalog/validate-catalog.js';

// Two apps that publish one host port: the second to start fails, so the catalog says so,
// on the app whose id sorts later, at its port, naming the other app's port (file:line:col).

const validator = createManifestValidator();
const lines = (...l: string[]) => `${l.join('\n')}\n`;

/** One app; `ports` are the lines under its container's `ports:` (line 9 on). */
const app = (id: string, ports: string[], head: string[] = []) =>
  lines(
    'schemaVersion: 1', // 1
    `id: ${id}`, // 2
    'name: App', // 3
    'version: "1.0.0"', // 4
    ...head, // (shifts what follows)
    'containers:', // 5
    `  - name: ${id}`, // 6
    '    image: docker.io/library/busybox:latest', // 7
    '    ports:', // 8
    ...ports, // 9..
  );

/** A provider of `iface` (an alternative to any other provider of it): 5 more lines at the top. */
const provides = (iface: string, container: string) => [
  'provides:',
  `  ${iface}:`,
  `    container: ${container}`,
  '    port: 8332',
  '    default: false',
];

function entry(id: string, text: string): CatalogApp {
  const file = `apps/${id}/manifest.yml`;
  return { id, file, dir: `apps/${id}`, result: validator.validate(text, file, id) };
}
const errorsOf = (apps: CatalogApp[]) =>
  Object.fromEntries(
    checkCatalog(apps).map((a) => [a.id, a.result.ok ? [] : a.result.errors.map(formatManifestError)]),
  );

describe('host ports across the catalog', () => {
  it('reports a clash on the app whose id sorts later, at its port, naming the other and its position', () => {
    const filebrowser = app('filebrowser', ['      - hostPort: 8080', '        containerPort: 80']);
    const web = app('web', ['      - hostPort: 9000', '        containerPort: 9000', '      - containerPort: 8080']);
    // Given in either order: the report does not depend on it.
    for (const apps of [
      [entry('web', web), entry('filebrowser', filebrowser)],
      [entry('filebrowser', filebrowser), entry('web', web)],
    ]) {
      expect(errorsOf(apps)).toEqual({
        filebrowser: [],
        web: [
          'apps/web/manifest.yml:11:9: containers[0].ports[1]: ' +
            'host port 8080/tcp is also published by filebrowser (apps/filebrowser/manifest.yml:9:9)',
        ],
      });
    }
  });

  it('a clash is the same port and protocol, on the same host address or either on all addresses', () => {
    const a = app('a', [
      '      - hostPort: 7000', // 9
      '        containerPort: 7000',
      '        protocol: udp',
      '      - hostPort: 7001', // 12
      '        containerPort: 7001',
      '        hostIp: 127.0.0.1',
      '      - hostPort: 7002', // 15
      '        containerPort: 7002',
      '        hostIp: 127.0.0.1',
    ]);
    const b = app('b', [
      '      - containerPort: 7000', // 9: tcp, a's is udp
      '      - hostPort: 7001', // 10: 10.0.0.2 and 127.0.0.1 are different addresses
      '        containerPort: 80',
      '        hostIp: 10.0.0.2',
      '      - hostPort: 7002', // 13: all addresses include 127.0.0.1
      '        containerPort: 80',
    ]);
    const c = app('c', [
      '      - hostPort: 7000', // 9: udp, as a's
      '        containerPort: 53',
      '        protocol: udp',
      '        hostIp: 192.168.1.5',
      '      - hostPort: 7001', // 13: the same address as a's
      '        containerPort: 80',
      '        hostIp: 127.0.0.1',
      '      - hostPort: 7002', // 16: b's 7002 is on all addresses
      '        containerPort: 81',
      '        hostIp: 10.9.9.9',
    ]);
    expect(errorsOf([entry('a', a), entry('b', b), entry('c', c)])).toEqual({
      a: [],
      b: [
        'apps/b/manifest.yml:13:9: containers[0].ports[2]: host port 7002/tcp is also published by a (apps/a/manifest.yml:15:9)',
      ],
      c: [
        'apps/c/manifest.yml:9:9: containers[0].ports[0]: host port 7000/udp is also published by a (apps/a/manifest.yml:9:9)',
        'apps/c/manifest.yml:13:9: containers[0].ports[1]: host port 7001/tcp is also published by a (apps/a/manifest.yml:12:9)',
        'apps/c/manifest.yml:16:9: containers[0].ports[2]: host port 7002/tcp is also published by b (apps/b/manifest.yml:13:9)',
      ],
    });
  });

  it('alternatives (apps that provide a same interface) may share host ports: only one is installed', () => {
    const core = app(
      'rpc-core',
      ['      - hostPort: 8333', '        containerPort: 8333'],
      provides('rpc', 'rpc-core'),
    );
    const knots = app(
      'rpc-knots',
      ['      - hostPort: 8333', '        containerPort: 8333'],
      provides('rpc', 'rpc-knots'),
    );
    const other = app('zebra', ['      - hostPort: 8333', '        containerPort: 8333']);
    expect(errorsOf([entry('rpc-core', core), entry('rpc-knots', knots)])).toEqual({ 'rpc-core': [], 'rpc-knots': [] });
    // An app that provides nothing of theirs clashes with both.
    expect(errorsOf([entry('rpc-core', core), entry('rpc-knots', knots), entry('zebra', other)])).toEqual({
      'rpc-core': [],
      'rpc-knots': [],
      zebra: [
        'apps/zebra/manifest.yml:9:9: containers[0].ports[0]: host port 8333/tcp is also published by rpc-core (apps/rpc-core/manifest.yml:14:9)',
        'apps/zebra/manifest.yml:9:9: containers[0].ports[0]: host port 8333/tcp is also published by rpc-knots (apps/rpc-knots/manifest.yml:14:9)',
      ],
    });
  });

  it('an invalid manifest takes no part; an app with other cross-app errors still holds its ports', () => {
    const broken = lines('schemaVersion: 1', 'id: a', 'containers: 3');
    const needy = app('m', ['      - hostPort: 8080', '        containerPort: 80'], ['requires:', '  nothing: {}']);
    const z = app('z', ['      - hostPort: 8080', '        containerPort: 80']);
    const found = errorsOf([entry('a', broken), entry('m', needy), entry('z', z)]);
    expect(found.a!.length).toBeGreaterThan(0);
    expect(found.m).toEqual(['apps/m/manifest.yml:6:3: requires.nothing: no app in the catalog provides "nothing"']);
    expect(found.z).toEqual([
      'apps/z/manifest.yml:9:9: containers[0].ports[0]: host port 8080/tcp is also published by m (apps/m/manifest.yml:11:9)',
    ]);
  });

  it('the same port in two containers of one app is the manifest check, not this one', () => {
    const text = lines(
      'schemaVersion: 1',
      'id: solo',
      'name: Solo',
      'version: "1.0.0"',
      'containers:',
      '  - name: one',
      '    image: docker.io/library/busybox:latest',
      '    ports:',
      '      - containerPort: 8080', // 9
      '  - name: two',
      '    image: docker.io/library/busybox:latest',
      '    ports:',
      '      - containerPort: 8080', // 13
    );
    expect(errorsOf([entry('solo', text)])).toEqual({
      solo: [
        'apps/solo/manifest.yml:13:9: containers[1].ports[0]: host port 8080/tcp is already published by containers[0].ports[0]',
      ],
    });
  });
});

describe('the catalogs in this repository', () => {
  const clashes = (report: Awaited<ReturnType<typeof validateCatalog>>) =>
    report.apps.flatMap((a) => a.errors.filter((e) => /host port/.test(e.message)).map(formatManifestError));

  it('the bundled catalog has no host port clash (bitcoin-core and bitcoin-knots are alternatives on 8333)', async () => {
    const report = await validateCatalog(fileURLToPath(new URL('../../apps', import.meta.url)), []);
    expect(clashes(report)).toEqual([]);
    expect(report.apps.filter((a) => !a.valid).map((a) => a.id)).toEqual([]);
  });

  it('the lab catalog has no host port clash', async () => {
    const report = await validateCatalog(fileURLToPath(new URL('../lab-apps', import.meta.url)), []);
    expect(clashes(report)).toEqual([]);
  });
});
