import { describe, expect, it } from 'vitest';
import { APP_ID_PATTERN, NAME_REF_PATTERN, containerUnitBase, isAppId, serviceOfUnitFile } from '../../src/names.js';
import { readManifestSchema } from '../../src/manifest/schema.js';

// The naming rules live in src/names.ts; the schema spells the id pattern out (JSON Schema
// has no import): they must say the same.

describe('naming rules', () => {
  it("the schema's app id pattern is the one in src/names.ts", () => {
    const schema = readManifestSchema() as { properties: { id: { pattern: string } } };
    expect(schema.properties.id.pattern).toBe(APP_ID_PATTERN.source);
    const patterns = JSON.stringify(schema).match(/"pattern":"\^\[a-z\][^"]*"/g) ?? [];
    const allowed = [APP_ID_PATTERN, NAME_REF_PATTERN].map((r) => `"pattern":${JSON.stringify(r.source)}`);
    for (const p of patterns) if (p.includes('{0,38}')) expect(allowed).toContain(p);
    expect(patterns.filter((p) => p === allowed[1]).length).toBe(3); // secretEnvironment, secretFiles, volumes
    expect(NAME_REF_PATTERN.test('bitcoind.rpc-password') && !NAME_REF_PATTERN.test('a.b.c')).toBe(true);
  });

  it('app ids, unit bases and the services Quadlet generates', () => {
    expect(['web', 'a', 'bitcoin-knots', 'a'.repeat(40)].every(isAppId)).toBe(true);
    expect(['Web', '-a', 'a-', 'a'.repeat(41), '../x', ''].some(isAppId)).toBe(false);
    expect(containerUnitBase('immich', 'immich')).toBe('immich');
    expect(containerUnitBase('immich', 'redis')).toBe('immich-redis');
    expect(['x.container', 'x.network', 'x.volume', 'x.build', 'x.pod', 'x'].map(serviceOfUnitFile)).toEqual([
      'x.service',
      'x-network.service',
      'x-volume.service',
      'x-build.service',
      undefined,
      undefined,
    ]);
  });
});
