import type { FieldPath, ManifestError, Manifest } from './types.js';
import { sortErrors } from './manifest-errors.js';
import { type ParseResult, parseYamlSource } from './yaml-source.js';
import { formatFieldPath } from './field-path.js';
import { quickYaml } from './quick-yaml.js';
import { compileSchemaCheck, type SchemaCheck, type SchemaProblem } from './schema.js';
import { checkManifestSemantics, type SemanticProblem } from './semantic-checks.js';
import { toAppSpec, type AppSpec } from './app-spec.js';

export type ManifestResult = { ok: true; app: AppSpec; at?: Locate } | { ok: false; errors: ManifestError[] };

/** An error at a field of the manifest, with its file, line and column (for checks across apps). */
export type Locate = (path: FieldPath, message: string, at?: 'key' | 'value') => ManifestError;

export interface ManifestValidator {
  /** Validates one manifest's text. Pure: `file` is only used in messages. */
  validate(text: string, file: string, expectedId?: string): ManifestResult;
}

/** Compiles the schema once; validating is then pure and cheap. */
export function createManifestValidator(schemaCheck: SchemaCheck = compileSchemaCheck()): ManifestValidator {
  return {
    validate(text, file, expectedId) {
      // A valid manifest read quickly is done; anything else (unreadable quickly, or with a
      // problem to place on a line) is read again with `yaml`, which reports it (issue 15).
      const quick = quickYaml(text);
      if (quick !== undefined && schemaCheck(quick).length === 0) {
        const manifest = quick as Manifest;
        if (checkManifestSemantics(manifest, expectedId).length === 0) {
          let whole: ParseResult | undefined;
          const at: Locate = (path, message, where) => {
            whole ??= parseYamlSource(text, file);
            if (whole.ok) return whole.source.error(path, message, where);
            return { file, line: 1, col: 1, field: formatFieldPath(path), message };
          };
          return { ok: true, app: toAppSpec(manifest), at };
        }
      }
      const parsed = parseYamlSource(text, file);
      if (!parsed.ok) return parsed;
      const { source } = parsed;
      const schemaProblems = schemaCheck(source.data);
      const manifest = source.data as Manifest;
      const problems = [...schemaProblems, ...semanticProblems(manifest, expectedId, schemaProblems)];
      if (problems.length > 0) {
        return { ok: false, errors: sortErrors(problems.map((p) => source.error(p.path, p.message, p.at ?? 'value'))) };
      }
      return { ok: true, app: toAppSpec(manifest), at: (path, message, at) => source.error(path, message, at) };
    },
  };
}

/**
 * Semantic checks also run on a manifest the schema rejected, so that every error is
 * reported at once; a check that trips over a wrongly typed field (or reports on a field the
 * schema already rejected) is left out rather than shown twice or as a crash.
 */
function semanticProblems(m: Manifest, expectedId: string | undefined, schema: SchemaProblem[]): SemanticProblem[] {
  if (schema.length === 0) return checkManifestSemantics(m, expectedId);
  if (m === null || typeof m !== 'object' || !Array.isArray(m.containers)) return [];
  let found: SemanticProblem[];
  try {
    found = checkManifestSemantics(m, expectedId);
  } catch {
    return [];
  }
  const related = (a: FieldPath, b: FieldPath) =>
    a.slice(0, Math.min(a.length, b.length)).every((seg, i) => seg === b[i]);
  return found.filter((p) => !schema.some((s) => related(s.path, p.path)));
}

// Also here, where callers of the library have always found them.
export { formatManifestError, sortErrors } from './manifest-errors.js';
