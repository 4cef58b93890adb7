import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compileSchemaCheck } from '../../src/manifest/schema.js';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';

// The build precompiles the schema (dist/manifest/schema-validate.generated.js); the
// installed product uses it. It must judge exactly as the runtime compile does.

const generated = fileURLToPath(new URL('../../dist/manifest/schema-validate.generated.js', import.meta.url));

describe('the precompiled schema validator', () => {
  it('exists after the build and gives the same errors as the runtime compile on every fixture and catalog app', async () => {
    expect(existsSync(generated), 'run `make build` first').toBe(true);
    const precompiled = (await import(generated)).default;
    const viaBuild = createManifestValidator((data) => (precompiled(data) ? [] : shapeWith(precompiled.errors, data)));
    const viaRuntime = createManifestValidator(compileSchemaCheck(undefined, { precompiled: false }));
    const dirs = [
      new URL('../fixtures/bad/', import.meta.url),
      new URL('../lab-apps/', import.meta.url),
      new URL('../../apps/', import.meta.url),
    ];
    let compared = 0;
    for (const dir of dirs) {
      for (const entry of readdirSync(dir, { recursive: true })
        .map(String)
        .filter((f) => f.endsWith('.yml'))) {
        const text = readFileSync(new URL(entry, dir), 'utf8');
        expect(viaBuild.validate(text, entry, 'bad'), entry).toEqual(viaRuntime.validate(text, entry, 'bad'));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(40);
  });
});

// shapeErrors is what compileSchemaCheck wraps around either validator.
import { shapeErrors } from '../../src/manifest/schema.js';
const shapeWith = shapeErrors;
