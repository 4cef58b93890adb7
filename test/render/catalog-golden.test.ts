import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { renderApp } from '../../src/render/render-app.js';
import { catalogRenderOptions, withTemplateTexts } from '../support/catalog.js';

// Every catalog app renders to the checked-in files under test/golden/<app>/.
// After a deliberate change: UPDATE_GOLDEN=1 npx vitest run test/render/catalog-golden.test.ts

const appsDir = fileURLToPath(new URL('../../apps', import.meta.url));
const goldenDir = fileURLToPath(new URL('../golden', import.meta.url));
const apps = readdirSync(appsDir)
  .filter((d) => existsSync(join(appsDir, d, 'manifest.yml')))
  .sort();
const validator = createManifestValidator();

function renderCatalogApp(id: string) {
  const result = validator.validate(
    readFileSync(join(appsDir, id, 'manifest.yml'), 'utf8'),
    `apps/${id}/manifest.yml`,
    id,
  );
  if (!result.ok)
    throw new Error(result.errors.map((e) => `${e.file}:${e.line}:${e.col}: ${e.field}: ${e.message}`).join('\n'));
  return renderApp(withTemplateTexts(result.app, join(appsDir, id)), catalogRenderOptions(id));
}

describe('catalog golden files', () => {
  it('has at least 12 apps', () => {
    expect(apps.length).toBeGreaterThanOrEqual(12);
  });

  for (const id of apps) {
    it(`${id} renders to test/golden/${id}`, () => {
      const files = renderCatalogApp(id);
      const dir = join(goldenDir, id);
      if (process.env.UPDATE_GOLDEN) {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir, { recursive: true });
        for (const f of files) writeFileSync(join(dir, f.name), f.content);
      }
      expect(files.map((f) => f.name)).toEqual(existsSync(dir) ? readdirSync(dir).sort() : []);
      for (const f of files) expect(f.content, `${id}/${f.name}`).toBe(readFileSync(join(dir, f.name), 'utf8'));
    });

    it(`${id} renders the same bytes every time`, () => {
      expect(renderCatalogApp(id)).toEqual(renderCatalogApp(id));
    });
  }
});
