import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cp, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedValidator, MANIFEST_CACHE_LIMIT, type ManifestCache } from '../../src/catalog/manifest-cache.js';
import { readManifestCache, writeManifestCache } from '../../src/catalog/manifest-cache-file.js';
import { validateCatalog } from '../../src/catalog/validate-catalog.js';
import { createManifestValidator, type ManifestValidator } from '../../src/manifest/validate-manifest.js';
import { renderUnits, type RenderRequest } from '../../src/output/render-units.js';
import { resolvePaths } from '../../src/paths.js';

// The manifest cache of `validate` and `render --out`: a hit must give exactly what validating
// gives (the units rendered from it, the errors and where they stand), without loading the
// validator; anything the result depends on changes the key.

const CATALOG = new URL('../../apps', import.meta.url).pathname;
const EMPTY: ManifestCache = { version: 1, entries: {} };
const real = createManifestValidator();
/** Through JSON, as the cache file carries it. */
const onDisk = (c: ManifestCache | undefined): ManifestCache => JSON.parse(JSON.stringify(c ?? EMPTY));
const never = async (): Promise<ManifestValidator> => {
  throw new Error('the validator was loaded on a cache hit');
};

let root: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'aq-mcache-'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function renderRequest(appsDir: string, validator: RenderRequest['validator']): RenderRequest {
  return {
    paths: resolvePaths({ env: { XDG_CONFIG_HOME: join(root, 'config') }, home: root, bundledAppsDir: appsDir }),
    appIds: [],
    outDir: join(root, 'out'),
    dryRun: true,
    startAtBoot: () => true,
    quadletBin: undefined,
    facts: { hostname: 'archy', mdnsName: 'archy.local', lanAddress: '192.168.1.20', networkSubnet: '10.89.254.0/24' },
    validator,
  };
}

describe('manifest cache', () => {
  it('renders the bundled catalog from the cache byte for byte as from a fresh validation, without loading the validator', async () => {
    let loads = 0;
    const first = cachedValidator({ build: 'b1', prior: EMPTY, load: async () => (loads++, real), now: 1 });
    const fresh = await renderUnits(renderRequest(CATALOG, first));
    expect(loads).toBe(1); // once, on the first miss
    expect(first.counts()).toEqual({ hits: 0, misses: 13 });
    const second = cachedValidator({ build: 'b1', prior: onDisk(first.toWrite()), load: never, now: 2 });
    const cached = await renderUnits(renderRequest(CATALOG, second));
    expect(second.counts()).toEqual({ hits: 13, misses: 0 });
    expect(cached.apps.map((a) => a.status)).toEqual(fresh.apps.map((a) => a.status));
    expect(cached.apps.every((a) => a.status === 'rendered')).toBe(true);
    const files = (r: typeof fresh) => r.apps.flatMap((a) => a.changes.map((c) => [`${a.id}/${c.name}`, c.after]));
    expect(files(cached)).toEqual(files(fresh));
    expect(files(fresh).length).toBeGreaterThan(40);
  });

  it('misses on another text, file, expected id or build', async () => {
    const text = 'schemaVersion: 1\nid: a\n';
    const v = cachedValidator({ build: 'b1', prior: EMPTY, load: async () => real, now: 1 });
    await v.validate(text, 'apps/a/manifest.yml', 'a');
    const prior = onDisk(v.toWrite());
    const again = (build: string) => cachedValidator({ build, prior, load: async () => real, now: 2 });
    const cases: Array<[string, string, string, string]> = [
      ['b1', `${text}# a comment\n`, 'apps/a/manifest.yml', 'a'],
      ['b1', text, 'other/a/manifest.yml', 'a'],
      ['b1', text, 'apps/a/manifest.yml', 'b'],
      ['b2', text, 'apps/a/manifest.yml', 'a'],
    ];
    for (const [build, t, file, id] of cases) {
      const w = again(build);
      await w.validate(t, file, id);
      expect(w.counts(), `${build} ${file} ${id}`).toEqual({ hits: 0, misses: 1 });
    }
    const same = again('b1');
    await same.validate(text, 'apps/a/manifest.yml', 'a');
    expect(same.counts()).toEqual({ hits: 1, misses: 0 });
  });

  it("gives an invalid manifest's errors back as validation gave them: file, line, column, field", async () => {
    const text =
      'schemaVersion: 1\nid: a\nname: a\nversion: "1"\ncontainers:\n  - name: a\n    image: 3\n    bogus: true\n';
    const v = cachedValidator({ build: 'b1', prior: EMPTY, load: async () => real, now: 1 });
    const fresh = await v.validate(text, 'a/manifest.yml', 'a');
    expect(fresh.ok).toBe(false);
    const hit = await cachedValidator({ build: 'b1', prior: onDisk(v.toWrite()), load: never, now: 2 }).validate(
      text,
      'a/manifest.yml',
      'a',
    );
    expect(hit).toEqual(fresh);
  });

  it('places an error found after a hit (a missing template) where validating places it', async () => {
    const apps = join(root, 'apps');
    await cp(join(CATALOG, 'bitcoin-core'), join(apps, 'bitcoin-core'), { recursive: true });
    await rm(join(apps, 'bitcoin-core', 'bitcoin.conf.tmpl'));
    const v = cachedValidator({ build: 'b1', prior: EMPTY, load: async () => real, now: 1 });
    const fresh = await validateCatalog(apps, [], v);
    const hit = cachedValidator({ build: 'b1', prior: onDisk(v.toWrite()), load: never, now: 2 });
    const cached = await validateCatalog(apps, [], hit);
    expect(hit.counts().hits).toBe(1);
    const errors = fresh.apps[0]!.errors;
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ field: 'containers[0].templates[0].template' });
    expect(errors[0]!.line).toBeGreaterThan(1);
    expect(errors[0]!.message).toMatch(/bitcoin\.conf\.tmpl does not exist/);
    expect(cached.apps[0]!.errors).toEqual(errors);
  });

  it('writes nothing after a run of fresh hits; keeps the entries used last, up to its limit', async () => {
    const texts = Array.from({ length: 3 }, (_, i) => `schemaVersion: 1\nid: a${i}\n`);
    const v = cachedValidator({ build: 'b1', prior: EMPTY, load: async () => real, now: 1000 });
    for (const t of texts) await v.validate(t, 'f', undefined);
    const prior = onDisk(v.toWrite());
    const hitsOnly = cachedValidator({ build: 'b1', prior, load: never, now: 2000 });
    for (const t of texts) await hitsOnly.validate(t, 'f', undefined);
    expect(hitsOnly.toWrite()).toBeUndefined();
    // A day later the stamps of the entries used are renewed.
    const later = cachedValidator({ build: 'b1', prior, load: never, now: 1000 + 25 * 3600 * 1000 });
    await later.validate(texts[0]!, 'f', undefined);
    const renewed = later.toWrite()!;
    expect(
      Object.values(renewed.entries)
        .map((e) => e.usedAt)
        .sort((a, b) => a - b),
    ).toEqual([1000, 1000, 1000 + 25 * 3600 * 1000]);
    // Past the limit the oldest go.
    const many: ManifestCache = {
      version: 1,
      entries: Object.fromEntries(
        Array.from({ length: MANIFEST_CACHE_LIMIT }, (_, i) => [`k${i}`, { ok: false, errors: [], usedAt: i }]),
      ),
    };
    const full = cachedValidator({ build: 'b1', prior: many, load: async () => real, now: 5000 });
    await full.validate(texts[0]!, 'f', undefined);
    const kept = full.toWrite()!;
    expect(Object.keys(kept.entries)).toHaveLength(MANIFEST_CACHE_LIMIT);
    expect(kept.entries.k0).toBeUndefined();
    expect(kept.entries[`k${MANIFEST_CACHE_LIMIT - 1}`]).toBeDefined();
  });

  it('ignores a damaged or missing file, and a cache it cannot write costs nothing but speed', async () => {
    expect(await readManifestCache(join(root, 'none'))).toEqual(EMPTY);
    await writeFile(join(root, 'manifests.json'), '{"version":1,"entries":');
    expect(await readManifestCache(root)).toEqual(EMPTY);
    const cache: ManifestCache = { version: 1, entries: { k: { ok: false, errors: [], usedAt: 1 } } };
    await writeManifestCache(join(root, 'sub'), cache);
    expect(await readManifestCache(join(root, 'sub'))).toEqual(cache);
    await writeFile(join(root, 'file'), '');
    await expect(writeManifestCache(join(root, 'file', 'x'), cache)).resolves.toBeUndefined();
    // Where creating answers ENOENT for ever (procfs), it gives up at once.
    await expect(writeManifestCache('/proc/archy-quadlet-test/archy-quadlet', cache)).resolves.toBeUndefined();
    // A missing $XDG_CACHE_HOME is made, then the cache folder in it.
    await writeManifestCache(join(root, 'home-cache', 'archy-quadlet'), cache);
    expect(await readManifestCache(join(root, 'home-cache', 'archy-quadlet'))).toEqual(cache);
  });
});
