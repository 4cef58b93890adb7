import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { readManifestSchema } from '../../src/manifest/schema.js';

// Binds the hand-written types of src/manifest/types.ts to schema/manifest.schema.json: every object
// of the schema has one type with the same fields, required exactly where the type's field is not
// optional. The types are read with the TypeScript parser, so this fails under `vitest run` (which
// strips types) and not only under tsc. ajv's JSONSchemaType cannot do it: it rejects this schema.

type S = Record<string, unknown>;
interface Shape {
  keys: string[];
  required: string[];
}

const TYPES_FILE = new URL('../../src/manifest/types.ts', import.meta.url);

/** Where each type's object sits in the schema (a JSON pointer). A nested type literal is Type.field. */
const SCHEMA_OBJECT_OF: Record<string, string> = {
  Manifest: '',
  SecretSpec: '/properties/secrets/additionalProperties',
  'SecretSpec.adoptFrom': '/properties/secrets/additionalProperties/properties/adoptFrom',
  VolumeSpec: '/properties/volumes/additionalProperties',
  ProvidedInterfaceSpec: '/properties/provides/additionalProperties',
  RequiredInterfaceSpec: '/properties/requires/additionalProperties',
  ContainerSpec: '/$defs/container',
  BuildSpec: '/$defs/container/properties/build',
  SecretFileSpec: '/$defs/container/properties/secretFiles/items',
  PortSpec: '/$defs/container/properties/ports/items',
  VolumeMountSpec: '/$defs/container/properties/volumes/items',
  BindMountSpec: '/$defs/container/properties/binds/items',
  TmpfsSpec: '/$defs/container/properties/tmpfs/items',
  'ContainerSpec.capabilities': '/$defs/container/properties/capabilities',
  HealthcheckSpec: '/$defs/container/properties/healthcheck',
  DeviceSpec: '/$defs/container/properties/devices/items',
  TemplateFileSpec: '/$defs/container/properties/templates/items',
  HooksSpec: '/properties/hooks',
  HookSpec: '/$defs/hook',
  UlimitSpec: '/$defs/container/properties/ulimits/additionalProperties/anyOf/1',
};

/** Types of types.ts that are not part of the manifest itself. */
const NOT_IN_SCHEMA = new Set(['ManifestError']);

/** Every object type of types.ts (interfaces, object type aliases, nested type literals) with its fields. */
function typeShapes(): Map<string, Shape> {
  const source = ts.createSourceFile('types.ts', readFileSync(TYPES_FILE, 'utf8'), ts.ScriptTarget.Latest);
  const shapes = new Map<string, Shape>();
  const add = (name: string, members: ts.NodeArray<ts.TypeElement>) => {
    const shape: Shape = { keys: [], required: [] };
    for (const m of members) {
      if (!ts.isPropertySignature(m) || m.name === undefined || !ts.isIdentifier(m.name)) {
        throw new Error(`${name}: only plain fields are handled here, not "${m.getText(source)}"`);
      }
      const key = m.name.text;
      shape.keys.push(key);
      if (m.questionToken === undefined) shape.required.push(key);
      if (m.type !== undefined && ts.isTypeLiteralNode(m.type)) add(`${name}.${key}`, m.type.members);
    }
    shapes.set(name, shape);
  };
  for (const node of source.statements) {
    if (ts.isInterfaceDeclaration(node)) {
      // An inherited field would be invisible here: say so rather than pass.
      if (node.heritageClauses) throw new Error(`${node.name.text} extends another type: teach this test about it`);
      add(node.name.text, node.members);
    } else if (ts.isTypeAliasDeclaration(node) && ts.isTypeLiteralNode(node.type)) {
      add(node.name.text, node.type.members);
    }
  }
  return shapes;
}

/** Every object of the schema that lists its fields (has properties), by JSON pointer. */
function schemaObjects(s: S, pointer: string, out: Map<string, S>): Map<string, S> {
  if (s.properties && typeof s.properties === 'object') out.set(pointer, s);
  for (const key of ['properties', '$defs']) {
    const children = Object.entries((s[key] ?? {}) as Record<string, S>);
    for (const [k, v] of children) schemaObjects(v, `${pointer}/${key}/${k}`, out);
  }
  if (s.items && typeof s.items === 'object') schemaObjects(s.items as S, `${pointer}/items`, out);
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    schemaObjects(s.additionalProperties as S, `${pointer}/additionalProperties`, out);
  }
  ((s.anyOf ?? []) as S[]).forEach((branch, i) => schemaObjects(branch, `${pointer}/anyOf/${i}`, out));
  return out;
}

const sorted = (xs: readonly string[]) => [...xs].sort();

describe('manifest types (src/manifest/types.ts) and schema (schema/manifest.schema.json)', () => {
  const shapes = typeShapes();
  const objects = schemaObjects(readManifestSchema(), '', new Map());

  it('maps every object type to a schema object, and every schema object to a type', () => {
    const unmappedTypes = [...shapes.keys()].filter((t) => !(t in SCHEMA_OBJECT_OF) && !NOT_IN_SCHEMA.has(t));
    expect(unmappedTypes).toEqual([]);
    const mapped = new Set(Object.values(SCHEMA_OBJECT_OF));
    expect([...objects.keys()].filter((p) => !mapped.has(p))).toEqual([]);
  });

  for (const [type, pointer] of Object.entries(SCHEMA_OBJECT_OF)) {
    it(`${type} has the fields of the schema at "${pointer || '/'}"`, () => {
      const shape = shapes.get(type);
      const object = objects.get(pointer);
      expect(shape, `no type ${type} in types.ts`).toBeDefined();
      expect(object, `no object with properties at ${pointer} in the schema`).toBeDefined();
      expect(sorted(shape!.keys)).toEqual(sorted(Object.keys(object!.properties as S)));
      expect(sorted(shape!.required)).toEqual(sorted((object!.required ?? []) as string[]));
    });
  }
});
