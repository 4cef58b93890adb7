import { describe, expect, it } from 'vitest';
import { readManifestSchema } from '../../src/manifest/schema.js';

type S = Record<string, unknown>;

/** Every (path, schema) of a property, item or map value in the schema, $defs included. */
function walk(s: S, path: string, out: Array<[string, S]>): Array<[string, S]> {
  for (const [k, v] of Object.entries((s.properties ?? {}) as Record<string, S>)) {
    out.push([`${path}.${k}`, v]);
    walk(v, `${path}.${k}`, out);
  }
  if (s.items && typeof s.items === 'object') walk(s.items as S, `${path}[]`, out);
  if (s.additionalProperties && typeof s.additionalProperties === 'object')
    walk(s.additionalProperties as S, `${path}.<name>`, out);
  for (const branch of (s.anyOf ?? []) as S[]) walk(branch, path, out);
  return out;
}

describe('manifest schema', () => {
  const schema = readManifestSchema();
  const defs = Object.entries((schema.$defs ?? {}) as Record<string, S>);
  const all = [...walk(schema, '', []), ...defs.flatMap(([name, d]) => walk(d, `$defs.${name}`, []))];

  it('describes every field', () => {
    const undocumented = all
      .filter(([, s]) => typeof s.description !== 'string' || s.description.length < 5)
      .map(([p]) => p);
    expect(undocumented).toEqual([]);
    expect(all.length).toBeGreaterThan(80);
  });

  it('closes every object: additionalProperties is false or a schema for map values', () => {
    const objects = [
      ['(root)', schema] as [string, S],
      ...all,
      ...defs.map(([n, d]) => [`$defs.${n}`, d] as [string, S]),
    ].filter(([, s]) => s.type === 'object');
    const open = objects
      .filter(([, s]) => s.additionalProperties === undefined || s.additionalProperties === true)
      .map(([p]) => p);
    expect(open).toEqual([]);
  });

  it('has a schemaVersion', () => {
    expect((schema.required as string[]).includes('schemaVersion')).toBe(true);
  });
});
