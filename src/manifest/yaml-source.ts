import { createRequire } from 'node:module';
import type { Document, Node } from 'yaml';
import type { FieldPath, ManifestError } from './types.js';
import { formatFieldPath } from './field-path.js';

/** A parsed YAML file that can say where a field stands in it. */
export interface YamlSource {
  file: string;
  data: unknown;
  /** Line and column (1-based) of the field; of its key when `at` is 'key'. */
  locate(path: FieldPath, at?: 'key' | 'value'): { line: number; col: number };
  error(path: FieldPath, message: string, at?: 'key' | 'value'): ManifestError;
}

export type ParseResult = { ok: true; source: YamlSource } | { ok: false; errors: ManifestError[] };

// The YAML parser (some 60 modules) is loaded on first parse, as the node configuration's is
// (one copy per process): a verb whose manifests are all in the manifest cache never loads it.
let yamlModule: typeof import('yaml') | undefined;
const yaml = () => (yamlModule ??= createRequire(import.meta.url)('yaml') as typeof import('yaml'));

const MAX_ALIASES = 100; // a "billion laughs" document is an error, not a hang

export function parseYamlSource(text: string, file: string): ParseResult {
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  const pos = (offset: number) => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  if (doc.errors.length > 0) {
    return {
      ok: false,
      errors: doc.errors.map((e) => ({ file, ...pos(e.pos[0]), field: '(yaml)', message: firstLine(e.message) })),
    };
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (e) {
    return {
      ok: false,
      errors: [{ file, line: 1, col: 1, field: '(yaml)', message: firstLine(String((e as Error).message)) }],
    };
  }
  const locate = (path: FieldPath, at: 'key' | 'value' = 'value') => pos(findOffset(doc, path, at));
  return {
    ok: true,
    source: {
      file,
      data,
      locate,
      error: (path, message, at = 'value') => ({ file, ...locate(path, at), field: formatFieldPath(path), message }),
    },
  };
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

/** Offset of the deepest node on `path` that exists (the whole document when none does). */
function findOffset(doc: Document, path: FieldPath, at: 'key' | 'value'): number {
  const { isMap, isPair, isScalar, isSeq } = yaml();
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg));
      if (!pair) return offset;
      const keyStart = rangeStart(pair.key);
      if (last && at === 'key' && keyStart !== undefined) return keyStart;
      node = pair.value;
      offset = rangeStart(node) ?? keyStart ?? offset;
    } else if (isSeq(node) && typeof seg === 'number') {
      const item = node.items[seg];
      if (item === undefined) return offset;
      node = item;
      offset = rangeStart(node) ?? offset;
    } else {
      return offset;
    }
  }
  return offset;
}

function rangeStart(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}
