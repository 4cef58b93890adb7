import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { createManifestValidator, formatManifestError } from '../../src/manifest/validate-manifest.js';
import { BAD_CASES } from '../fixtures/bad/cases.js';

const validator = createManifestValidator();
const fixture = (name: string) => new URL(`../fixtures/bad/${name}.yml`, import.meta.url);

describe('malformed manifests', () => {
  it('has at least 30 cases', () => {
    expect(Object.keys(BAD_CASES).length).toBeGreaterThanOrEqual(30);
  });

  for (const [name, expected] of Object.entries(BAD_CASES)) {
    it(`${name}: reports every error with its position`, () => {
      const text = readFileSync(fixture(name), 'utf8');
      const result = validator.validate(text, `${name}.yml`, 'bad');
      expect(result.ok).toBe(false);
      const got = result.ok ? [] : result.errors.map((e) => formatManifestError(e).slice(`${name}.yml:`.length));
      expect(got).toEqual(expected);
    });
  }
});
