import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Ajv2020, ErrorObject, ValidateFunction } from 'ajv/dist/2020.js';
import type { FieldPath } from './types.js';
import { parseJsonPointer } from './field-path.js';

/** schema/ sits at the package root, two levels above src/manifest and dist/manifest. */
export const SCHEMA_PATH = fileURLToPath(new URL('../../schema/manifest.schema.json', import.meta.url));

export function readManifestSchema(): Record<string, unknown> {
  return JSON.parse(readFileSync(SCHEMA_PATH, 'utf8')) as Record<string, unknown>;
}

export interface SchemaProblem {
  path: FieldPath;
  at: 'key' | 'value';
  message: string;
}

export type SchemaCheck = (data: unknown) => SchemaProblem[];

type AjvOptions = ConstructorParameters<typeof Ajv2020>[0];

/**
 * The one Ajv configuration, shared by the runtime compile and the build-time standalone code.
 * Ajv itself (some 75 modules) is loaded here, on first use: a process with the precompiled
 * validator never needs it.
 */
export function newAjv(extra: AjvOptions = {}): Ajv2020 {
  const { Ajv2020 } = createRequire(import.meta.url)('ajv/dist/2020.js') as typeof import('ajv/dist/2020.js');
  const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true, ...extra });
  ajv.addKeyword({ keyword: 'x-hint', schemaType: 'string' });
  return ajv;
}

// The validator precompiled at build time (dist only; tests from src compile at runtime). Named
// from the parent folder so the bundled CLI (dist/cli) finds it too.
const precompiled: ValidateFunction | undefined = await import(
  new URL('../manifest/schema-validate.generated.js', import.meta.url).href
)
  .then((m: { default: ValidateFunction }) => m.default)
  .catch(() => undefined);

/**
 * The schema check: the precompiled validator when there is one and no other schema is
 * asked for, else a runtime compile. The returned check is pure and reusable.
 */
export function compileSchemaCheck(
  schema?: Record<string, unknown>,
  opts: { precompiled?: boolean } = {},
): SchemaCheck {
  const validate: ValidateFunction =
    schema === undefined && opts.precompiled !== false && precompiled
      ? precompiled
      : newAjv().compile(schema ?? readManifestSchema());
  return (data) => (validate(data) ? [] : shapeErrors(validate.errors ?? [], data));
}

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping (key: value)',
  array: 'a list',
  null: 'null',
};

function hintOf(e: ErrorObject): string | undefined {
  const hint = (e.parentSchema as Record<string, unknown> | undefined)?.['x-hint'];
  return typeof hint === 'string' ? hint : undefined;
}

function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function describeType(e: ErrorObject): string {
  const t = (e.params as { type: string | string[] }).type;
  const names = (Array.isArray(t) ? t : String(t).split(',')).map((x) => TYPE_NAMES[x] ?? x);
  return `must be ${names.join(' or ')}`;
}

/** Turns ajv's errors into one clear message per problem, located by field path. */
export function shapeErrors(errors: ErrorObject[], data: unknown): SchemaProblem[] {
  // A value that fails an anyOf gets one message (the anyOf's hint), not one per branch.
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const underAnyOf = (p: string) => [...anyOfPaths].some((a) => p === a || p.startsWith(`${a}/`));
  const out: SchemaProblem[] = [];
  const seen = new Set<string>();
  const push = (p: SchemaProblem) => {
    const key = `${p.path.join('\u0000')}|${p.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(p);
    }
  };
  for (const e of errors) {
    const path = parseJsonPointer(e.instancePath, data);
    if (e.keyword !== 'anyOf' && underAnyOf(e.instancePath)) continue;
    if (e.keyword === 'propertyNames') continue; // the name's own error (below) says it better
    if (e.propertyName !== undefined) {
      push({
        path: [...path, e.propertyName],
        at: 'key',
        message: `"${e.propertyName}": ${hintOf(e) ?? e.message ?? 'invalid name'}`,
      });
      continue;
    }
    switch (e.keyword) {
      case 'additionalProperties': {
        const name = (e.params as { additionalProperty: string }).additionalProperty;
        const known = Object.keys(((e.parentSchema as Record<string, unknown>)?.properties as object) ?? {});
        const guess = closest(name, known);
        push({
          path: [...path, name],
          at: 'key',
          message: `unknown field "${name}"${guess ? ` (did you mean "${guess}"?)` : ''}`,
        });
        break;
      }
      case 'required':
        push({
          path,
          at: 'value',
          message: `missing required field "${(e.params as { missingProperty: string }).missingProperty}"`,
        });
        break;
      case 'type':
        push({ path, at: 'value', message: describeType(e) });
        break;
      case 'enum':
        push({
          path,
          at: 'value',
          message: `must be one of: ${(e.params as { allowedValues: unknown[] }).allowedValues.map(String).join(', ')}`,
        });
        break;
      case 'const':
        push({
          path,
          at: 'value',
          message: `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}`,
        });
        break;
      case 'pattern':
      case 'format':
      case 'anyOf':
        push({ path, at: 'value', message: hintOf(e) ?? e.message ?? 'is invalid' });
        break;
      default:
        push({ path, at: 'value', message: e.message ?? `fails ${e.keyword}` });
    }
  }
  return out;
}
