import { describe, expect, it } from 'vitest';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildContextHash, buildContextStamp, buildTagHash } from '../../src/catalog/build-context.js';
import { loadCatalogApp } from '../../src/catalog/load-catalog.js';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';

// A local build's tag names its context's content: a fixed page is a new image (an update)
// with no version bump (issue 13).

function context(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'aq-ctx-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

describe('build context hash', () => {
  it('follows the content (names and bytes), not where the context is or when it was written', async () => {
    const a = context({ Containerfile: 'FROM x\n', 'www/index.html': 'v1\n' });
    const b = context({ Containerfile: 'FROM x\n', 'www/index.html': 'v1\n' });
    const h = await buildContextHash(a);
    expect(h).toMatch(/^[0-9a-f]{12}$/);
    expect(await buildContextHash(b)).toBe(h);
    writeFileSync(join(b, 'www/index.html'), 'v2\n');
    expect(await buildContextHash(b)).not.toBe(h);
    const c = context({ Containerfile: 'FROM x\n', 'www/other.html': 'v1\n' });
    expect(await buildContextHash(c)).not.toBe(h);
    for (const d of [a, b, c]) rmSync(d, { recursive: true });
  });

  it("the tag's hash follows the build's options too (an argument, a target), and is the context's alone without them", () => {
    const h = 'abcdef012345';
    expect(buildTagHash(h, { context: '.' })).toBe(h);
    const withArg = buildTagHash(h, { context: '.', args: { NGINX: '1' } });
    expect(withArg).toMatch(/^[0-9a-f]{12}$/);
    expect(withArg).not.toBe(h);
    expect(buildTagHash(h, { context: '.', args: { NGINX: '2' } })).not.toBe(withArg);
    expect(buildTagHash(h, { context: '.', args: { B: '1', A: '2' } })).toBe(
      buildTagHash(h, { context: '.', args: { A: '2', B: '1' } }),
    );
    expect(buildTagHash(h, { context: '.', target: 'runtime' })).not.toBe(h);
    expect(buildTagHash(h, { context: '.', containerfile: 'Containerfile.alt' })).not.toBe(h);
    expect(buildTagHash(h, { context: '.', containerfile: 'Containerfile' })).toBe(h); // the default, named
  });

  it('does not follow a symbolic link out of the context', async () => {
    const outside = context({ secret: 'one' });
    const a = context({ Containerfile: 'FROM x\n' });
    symlinkSync(join(outside, 'secret'), join(a, 'link'));
    const h = await buildContextHash(a);
    writeFileSync(join(outside, 'secret'), 'two');
    expect(await buildContextHash(a)).toBe(h);
    rmSync(outside, { recursive: true });
    rmSync(a, { recursive: true });
  });

  it('the stamp (the render cache key) changes with a file, and names a missing context', async () => {
    const a = context({ Containerfile: 'FROM x\n' });
    const s = await buildContextStamp(a);
    writeFileSync(join(a, 'Containerfile'), 'FROM y\n');
    expect(await buildContextStamp(a)).not.toBe(s);
    rmSync(a, { recursive: true });
    expect(await buildContextStamp(a)).toMatch(/^[0-9a-f]{64}$/);
  });

  it("the catalog's companions are tagged <version>-<hash of their context>", async () => {
    const apps = fileURLToPath(new URL('../../apps', import.meta.url));
    const entry = await loadCatalogApp(apps, 'bitcoin-ui', await createManifestValidator());
    expect(entry.result.ok).toBe(true);
    if (!entry.result.ok) return;
    const tag = entry.result.app.containers[0]!.build!.imageTag;
    const hash = await buildContextHash(
      join(apps, 'bitcoin-ui', entry.result.app.manifest.containers[0]!.build!.context),
    );
    expect(tag).toBe(`localhost/archy/bitcoin-ui:${entry.result.app.manifest.version}-${hash}`);
  });
});
