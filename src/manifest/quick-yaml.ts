import { FAILSAFE_SCHEMA, load, type State, Type } from 'js-yaml';

// A first, quick reading of a manifest's YAML (issue 15). The `yaml` package reads the
// catalog's manifests some 6 to 9 times slower than js-yaml, because it keeps a full syntax
// tree; the tree is only needed to say on which line a problem stands. So a manifest is read
// with js-yaml first and, when that reading is valid, the tree is never built. Anything this
// reading cannot vouch for returns undefined and goes the whole way through `yaml`, which stays
// the judge of a manifest's meaning and the author of every error message.
//
// For the two readings to agree, js-yaml is given a schema that is YAML 1.2's core schema as
// the `yaml` package implements it (its tests and conversions below, from yaml/dist/schema),
// and a document is left to `yaml` when it uses what the schemas or the libraries treat
// differently: anchors and aliases (`yaml` caps alias expansion; js-yaml shares the objects),
// a directive (`%YAML 1.1` switches `yaml` to another schema), an explicit non-core tag, a
// collection as a key, or a key that reads as null (`yaml` makes it "", js-yaml "null"). A differential test holds the
// two readings equal over the catalog, the lab apps and generated documents.

// js-yaml keeps one implicit type per tag, so each tag's forms are tried in one type, in `yaml`'s order.
// `firsts` holds every character a form can start with: js-yaml tries each implicit type on
// every plain scalar, and most scalars (names, images, paths) are strings that start elsewhere.
const scalar = (tag: string, firsts: string, forms: [RegExp, (s: string) => unknown][]) =>
  new Type(tag, {
    kind: 'scalar',
    resolve: (s: string | null) =>
      s !== null && s.length > 0 && firsts.includes(s[0]!) && forms.some(([test]) => test.test(s)),
    construct: (s: string) => forms.find(([test]) => test.test(s))![1](s),
  });

const INT = 'tag:yaml.org,2002:int';
const FLOAT = 'tag:yaml.org,2002:float';
const CORE_TYPES = [
  new Type('tag:yaml.org,2002:null', {
    kind: 'scalar',
    resolve: (s: string | null) => s === null || s === '' || ('~nN'.includes(s[0]!) && /^(?:~|[Nn]ull|NULL)?$/.test(s)),
    construct: () => null,
  }),
  scalar('tag:yaml.org,2002:bool', 'tTfF', [
    [/^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T'],
  ]),
  scalar(INT, '-+0123456789', [
    [/^0o[0-7]+$/, (s) => Number.parseInt(s.slice(2), 8)],
    [/^[-+]?[0-9]+$/, (s) => Number.parseInt(s, 10)],
    [/^0x[0-9a-fA-F]+$/, (s) => Number.parseInt(s.slice(2), 16)],
  ]),
  scalar(FLOAT, '-+.0123456789', [
    [
      /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/,
      (s) =>
        s.slice(-3).toLowerCase() === 'nan'
          ? Number.NaN
          : s[0] === '-'
            ? Number.NEGATIVE_INFINITY
            : Number.POSITIVE_INFINITY,
    ],
    [/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/, Number.parseFloat],
    [/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/, Number.parseFloat],
  ]),
];
const CORE_SCHEMA = FAILSAFE_SCHEMA.extend({ implicit: CORE_TYPES });

const CORE_TAGS = new Set([
  'tag:yaml.org,2002:str',
  'tag:yaml.org,2002:seq',
  'tag:yaml.org,2002:map',
  'tag:yaml.org,2002:null',
  'tag:yaml.org,2002:bool',
  INT,
  FLOAT,
]);

// What js-yaml and `yaml` read differently, found in the text (a match inside a string only
// costs speed): a comment glued to a flow indicator or a quote (an error for `yaml`, a comment
// for js-yaml); a block scalar's explicit indentation (js-yaml counts it from elsewhere at the
// top); a directive; a `?` explicit key; a flow collection closed right before a `:` (a
// collection as a key: js-yaml joins it, `yaml` writes it out). Each test is cheap alone; the
// `includes` spare a whole-text scan for the characters a manifest seldom has.
const GLUED_COMMENT = /[[{,\]}"']#/;
const INDENTATION_INDICATOR = /[|>](?:[1-9][+-]?|[+-][1-9])[ \t]*(?:#.*)?$/m;
const DIRECTIVE = /^%/m;
const EXPLICIT_KEY = /^[ \t]*(?:-[ \t]+)*\?(?:[ \t]|$)|[{[,][ \t]*\?[ \t]/m;
const COLLECTION_KEY = /[\]}][ \t]*:(?:[ \t]|$)/m;
// Also (found by review): an explicit tag (js-yaml makes an empty `!!map` {}, `yaml` ""); a
// byte-order mark (it hides a directive from the test above); content on a `---` line (an
// error for `yaml`); a carriage return (js-yaml breaks lines at a lone CR, `yaml` does not);
// a \U escape (js-yaml wraps one past U+10FFFF); a line over 1024 characters (`yaml`'s limit
// for an implicit key).
const EXPLICIT_TAG = /(?:^|[\s[{,])!/m;
const CONTENT_ON_MARKER = /^(?:---|\.\.\.)[ \t]+[^\s#]/m;
/** A line over 1024 characters. A loop, not /[^\n]{1025}/: that regex took 1–5 ms per manifest (measured). */
function hasLongLine(text: string): boolean {
  for (let start = 0; ; ) {
    const end = text.indexOf('\n', start);
    if ((end < 0 ? text.length : end) - start > 1024) return true;
    if (end < 0) return false;
    start = end + 1;
  }
}
const leftToYaml = (text: string) =>
  text.includes('\r') ||
  text.includes('\uFEFF') ||
  text.includes('\\U') ||
  (text.includes('!') && EXPLICIT_TAG.test(text)) ||
  (text.includes('-') && CONTENT_ON_MARKER.test(text)) ||
  (text.length > 1024 && hasLongLine(text)) ||
  (text.includes('#') && GLUED_COMMENT.test(text)) ||
  INDENTATION_INDICATOR.test(text) ||
  (text.includes('%') && DIRECTIVE.test(text)) ||
  (text.includes('?') && EXPLICIT_KEY.test(text)) ||
  COLLECTION_KEY.test(text);

/** The manifest's data when js-yaml can read it as `yaml` would; undefined to read it with `yaml`. */
export function quickYaml(text: string): unknown {
  if (leftToYaml(text) || hasEmptyItemBeforeSibling(text)) return undefined;
  let plain = true;
  const starts: number[] = [];
  const listener = (event: 'open' | 'close', s: State) => {
    const state = s as State & { anchor: string | null; tag: string | null; kind: string | null; position: number };
    if (event === 'open') {
      starts.push(state.position);
      return;
    }
    const start = starts.pop() ?? 0;
    const { anchor, tag } = state;
    if (anchor !== null || (tag !== null && tag !== '?' && tag !== '!' && !CORE_TAGS.has(tag))) plain = false;
    // A quoted scalar or a flow collection over several lines: `yaml` holds its lines to the
    // block's indentation, js-yaml does not.
    if (OVER_LINES.test(text.slice(start, state.position))) plain = false;
  };
  let data: unknown;
  try {
    data = load(text, { schema: CORE_SCHEMA, listener });
  } catch {
    return undefined;
  }
  return plain && hasNoNullKey(data) ? data : undefined;
}

const OVER_LINES = /^(?:\s|#[^\n]*)*(?:[!&]\S*\s+)*["'[{][\s\S]*\n/;

/**
 * Whether a sequence item is empty (a dash with nothing after it but a comment) and the next
 * line is not indented below it: js-yaml then reads that next line's item into the empty one's
 * sequence (`- -` then `- a` is [[null], "a"] for `yaml`, [[null, "a"]] for js-yaml).
 */
function hasEmptyItemBeforeSibling(text: string): boolean {
  // EMPTY_ITEM tries every line of every manifest; most have no line ending in a dash at all.
  if (!EMPTY_ITEM_HINT.test(text)) return false;
  for (const empty of text.matchAll(EMPTY_ITEM)) {
    const dashColumn = empty[1]!.length - 1;
    const after = text.slice(empty.index + empty[0].length).split('\n');
    const next = after.slice(1).find((l) => !/^[ \t]*(?:#.*)?$/.test(l));
    if (next === undefined || next.length - next.trimStart().length <= dashColumn) return true;
  }
  return false;
}
const EMPTY_ITEM = /^((?:[ \t]*-)+)[ \t]*(?:#.*)?$/gm;
const EMPTY_ITEM_HINT = /-[ \t]*(?:#.*)?$/m;

function hasNoNullKey(value: unknown): boolean {
  if (Array.isArray(value)) return value.every(hasNoNullKey);
  if (value === null || typeof value !== 'object') return true;
  for (const [k, v] of Object.entries(value)) if (k === 'null' || !hasNoNullKey(v)) return false;
  return true;
}
