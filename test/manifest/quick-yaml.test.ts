import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { quickYaml } from '../../src/manifest/quick-yaml.js';

// The quick reading may decline a document, never read one otherwise than `yaml` does: when
// it returns data, `yaml` (as parseYamlSource calls it) must accept the text and agree.

/** `yaml`'s reading as parseYamlSource makes it, or an error marker; NaN, ±Infinity and -0 kept apart. */
function slowReading(text: string): string {
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) return 'ERROR';
  try {
    return canonical(doc.toJS({ maxAliasCount: 100 }));
  } catch {
    return 'ERROR';
  }
}

const canonical = (v: unknown) =>
  JSON.stringify(v, (_k, x) =>
    typeof x === 'number' && (!Number.isFinite(x) || Object.is(x, -0)) ? `number:${Object.is(x, -0) ? '-0' : x}` : x,
  ) ?? 'undefined';

function agrees(text: string): boolean {
  const quick = quickYaml(text);
  return quick === undefined || canonical(quick) === slowReading(text);
}

const root = join(import.meta.dirname, '../..');
const yamlFiles = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? yamlFiles(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : [],
  );

// Plain scalars whose type YAML 1.1, YAML 1.2 core and the two libraries tell apart, and
// characters that start or end YAML's syntax.
const TOKENS = [
  ...['~', 'null', 'Null', 'NULL', 'nULL', 'true', 'True', 'TRUE', 'tRUE', 'false', 'FALSE', 'yes', 'No', 'on', 'y'],
  ...['0', '007', '-0', '+3', '08', '0o17', '0o8', '0x1F', '0x', '-0x1', '+0x1', '1_000', '0b11', '12:30', '9e9999'],
  ...['1e3', '1E-3', '+1.5e+2', '.5', '1.', '-.5', '-.inf', '+.Inf', '.INF', '.nan', '.NaN', '-.nan', '1.0', '.'],
  ...['2024-01-01', '2001-12-14t21:59:43.10-05:00', '<<', '=', 'a b', 'a:b', 'a:', 'a: b', '#x', 'a #x', '-', '- a'],
  ...['"q"', "'s'", '"a\\tb"', '"\\u00e9"', 'a"b', '[a]', '[a, 1]', '{a: 1}', '{}', '[]', '*x', '&x 1', '!x 1'],
  ...['!!str 1', '!!int "7"', '!!float 1', '!!bool yes', '!!null ""', '! 1', '%x', '@x', '`x', '|', '>', '?', '? a'],
  ...[
    ':',
    'a,b',
    'é',
    'a\tb',
    "''",
    '""',
    '__proto__',
    'constructor',
    'x\\',
    '"multi\n  line"',
    "'multi\n\n  line'",
    'a\n  b',
    'a\n\n  b # c',
  ],
  ...['', '# c', '|\n  l1\n\n  l2', '>-\n  f1\n  f2', '|+\n  k\n', '|2-\n    x', '>\n\n  a\n   b', '"a\\\n  b"'],
];
const token = fc.constantFrom(...TOKENS);
const key = fc.oneof(token, fc.constantFrom('id', 'name', 'env', 'a', 'b', '1', '2'));

type Tree = string | Tree[] | { pairs: [string, Tree][] };
const tree: fc.Arbitrary<Tree> = fc.letrec<{ node: Tree }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    token,
    fc.array(tie('node'), { maxLength: 3 }),
    fc.array(fc.tuple(key, tie('node')), { maxLength: 3 }).map((pairs) => ({ pairs })),
  ),
})).node;

/** Block style: a map's pairs and a list's items at `indent`, collections nested below their key or dash. */
function block(t: Tree, indent: string): string {
  if (typeof t === 'string') return ` ${t.replaceAll('\n', `\n${indent}`)}\n`;
  if (!Array.isArray(t)) {
    const { pairs } = t;
    if (pairs.length === 0) return ' {}\n';
    return `\n${pairs.map(([k, v]) => `${indent}${k}:${block(v, `${indent}  `)}`).join('')}`;
  }
  if (t.length === 0) return ' []\n';
  return `\n${t.map((v) => `${indent}-${block(v, `${indent}  `)}`).join('')}`;
}

/** Flow style, one line. */
function flow(t: Tree): string {
  if (typeof t === 'string') return t;
  if (!Array.isArray(t)) return `{${t.pairs.map(([k, v]) => `${k}: ${flow(v)}`).join(', ')}}`;
  return `[${t.map(flow).join(', ')}]`;
}

describe('quick YAML reading', () => {
  it('reads every YAML file of the repository as `yaml` does, and reads the catalog without help', () => {
    const files = [...yamlFiles(join(root, 'apps')), ...yamlFiles(join(root, 'test'))];
    expect(files.length).toBeGreaterThan(50);
    for (const f of files) expect(agrees(readFileSync(f, 'utf8')), f).toBe(true);
    for (const f of yamlFiles(join(root, 'apps')).filter((f) => f.endsWith('manifest.yml')))
      expect(quickYaml(readFileSync(f, 'utf8')), f).toBeDefined();
  });

  it('gives each core scalar the value `yaml` gives it', () => {
    for (const t of TOKENS) {
      const text = `v: ${t}\n`;
      expect(agrees(text), text).toBe(true);
    }
    // The forms YAML 1.1 reads as numbers or booleans stay strings, as in `yaml`'s core schema.
    expect(quickYaml('a: yes\nb: 1_000\nc: 0b11\nd: 2024-01-01\ne: 0o17\nf: 007\ng: .NaN\n')).toEqual({
      a: 'yes',
      b: '1_000',
      c: '0b11',
      d: '2024-01-01',
      e: 15,
      f: 7,
      g: Number.NaN,
    });
  });

  it('leaves to `yaml` what the two libraries read differently', () => {
    for (const text of [
      'a: &x 1\nb: *x\n', // alias: `yaml` caps expansion
      '%YAML 1.1\n---\na: yes\n', // another schema
      'a: !foo 1\n', // a tag js-yaml does not know
      '~: 1\n', // a null key: "" in `yaml`
      '[a]: 1\n', // a collection as a key
      '? [a]\n: 1\n',
      'x: {[a]: 1}\n',
      'a: 1\na: 2\n', // duplicate key: an error, placed by `yaml`
      '', // no document
      // Found by review:
      'a: !!map\nb: 1\n', // an empty tagged node: {} for js-yaml, "" for `yaml`
      'a: !\n', // null for js-yaml, "" for `yaml`
      '\uFEFF%YAML 1.1\n---\na: on\n', // a directive behind a byte-order mark
      '--- a: 1\n    b: 2\n', // content on the `---` line: an error for `yaml`
      'a: # c\n  "Foo\nBar"\n', // a quoted scalar over lines, behind a comment
      'a: # c\n  [a,\nb]\n',
      'a: 1\rb: 2\r', // lone CRs: line breaks for js-yaml only
      'a: x\r\nb: y\r\n',
      'a: "\\U00110000"\n', // past U+10FFFF: an error for `yaml`
      `${'k'.repeat(1100)}: 1\n`, // an implicit key over `yaml`'s 1024 characters
      `a: 1\n${'k'.repeat(1022)}: 1`, // 1025 characters, on the last line, with no newline after
      `a: 1\n${'k'.repeat(1022)}: 1\nb: 2\n`,
      '- -\r\n  # c\r\n- c\r\n',
    ])
      expect(quickYaml(text), text).toBeUndefined();
  });

  it('reads with js-yaml a line of 1024 characters, the longest `yaml` takes as a key', () => {
    expect(quickYaml(`a: 1\n${'k'.repeat(1021)}: 1\nb: 2\n`)).toEqual({ a: 1, ['k'.repeat(1021)]: 1, b: 2 });
  });

  it('never reads a generated document otherwise than `yaml` (block and flow styles)', () => {
    fc.assert(
      fc.property(tree, fc.boolean(), (t, asFlow) => {
        const text = asFlow ? `${flow(t)}\n` : block(t, '').replace(/^ /, '');
        return agrees(text);
      }),
      { numRuns: 3000 },
    );
  });

  it('never reads an edited catalog manifest otherwise than `yaml` (broken indentation, glued comments, stray tokens)', () => {
    const texts = yamlFiles(join(root, 'apps'))
      .filter((f) => f.endsWith('manifest.yml'))
      .map((f) => readFileSync(f, 'utf8'));
    const glyph = fc.constantFrom(
      ' ',
      '-',
      ':',
      '#',
      '\n',
      '"',
      "'",
      '|',
      '>',
      '[',
      ']',
      '{',
      '}',
      ',',
      '\t',
      '&',
      '*',
    );
    const edit = fc.record({
      line: fc.nat(),
      at: fc.nat(),
      what: fc.oneof(token, glyph),
      how: fc.constantFrom('insert', 'delete', 'indent', 'dedent', 'duplicate'),
    });
    fc.assert(
      fc.property(fc.nat(texts.length - 1), fc.array(edit, { minLength: 1, maxLength: 3 }), (which, edits) => {
        const lines = texts[which]!.split('\n');
        for (const { line, at, what, how } of edits) {
          const i = line % lines.length;
          const l = lines[i]!;
          const c = at % (l.length + 1);
          if (how === 'insert') lines[i] = l.slice(0, c) + what + l.slice(c);
          else if (how === 'delete') lines[i] = l.slice(0, c) + l.slice(c + 1);
          else if (how === 'indent') lines[i] = ` ${l}`;
          else if (how === 'dedent') lines[i] = l.replace(/^ /, '');
          else lines.splice(i, 0, l);
        }
        return agrees(lines.join('\n'));
      }),
      { numRuns: 600 },
    );
  });
});
