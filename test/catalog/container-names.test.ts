import { describe, expect, it } from 'vitest';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { checkCatalog } from '../../src/catalog/catalog-checks.js';
import type { CatalogApp } from '../../src/catalog/load-catalog.js';

// Podman container names are one namespace per user: `containerName:` (kept from an
// Archipelago node, e.g. archy-bitcoin-ui) must not name a container twice.

const validator = createManifestValidator();
const app = (id: string, containers: Array<{ name: string; containerName?: string }>) =>
  [
    'schemaVersion: 1',
    `id: ${id}`,
    'name: App',
    'version: "1.0.0"',
    'containers:',
    ...containers.flatMap((c) => [
      `  - name: ${c.name}`,
      '    image: docker.io/library/busybox:latest',
      ...(c.containerName ? [`    containerName: ${c.containerName}`] : []),
    ]),
    '',
  ].join('\n');
const entry = (id: string, text: string): CatalogApp => ({
  id,
  file: `apps/${id}/manifest.yml`,
  dir: `apps/${id}`,
  result: validator.validate(text, `apps/${id}/manifest.yml`, id),
});
const errorsOf = (apps: CatalogApp[], id: string) => {
  const r = checkCatalog(apps).find((e) => e.id === id)!.result;
  return r.ok ? [] : r.errors.map((e) => `${e.field}: ${e.message}`);
};

describe('container names across the catalog', () => {
  it('renders containerName as the Podman name', () => {
    const e = entry('ui', app('ui', [{ name: 'ui', containerName: 'archy-ui' }]));
    expect(e.result.ok && e.result.app.containers[0]!.containerName).toBe('archy-ui');
  });

  it('refuses a container name another app uses, on the app whose id sorts later', () => {
    const apps = [
      entry('a', app('a', [{ name: 'a', containerName: 'shared' }])),
      entry('b', app('b', [{ name: 'b', containerName: 'shared' }])),
    ];
    expect(errorsOf(apps, 'a')).toEqual([]);
    expect(errorsOf(apps, 'b')).toEqual(['containers[0].containerName: container name shared is also used by app "a"']);
  });

  it('refuses a containerName that is another app’s default name, and two alike in one app', () => {
    const apps = [
      entry('lnd', app('lnd', [{ name: 'lnd' }])),
      entry('ui', app('ui', [{ name: 'ui', containerName: 'lnd' }])),
    ];
    expect(errorsOf(apps, 'ui')).toEqual(['containers[0].containerName: container name lnd is also used by app "lnd"']);
    const twice = entry(
      's',
      app('s', [
        { name: 'x', containerName: 'same' },
        { name: 'y', containerName: 'same' },
      ]),
    );
    expect(errorsOf([twice], 's')).toEqual([
      'containers[1].containerName: container name same is also used by another of its containers',
    ]);
  });
});
