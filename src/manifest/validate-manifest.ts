import type { ManifestError, Manifest } from './types.js';
import { parseYamlSource } from './yaml-source.js';
import { compileSchemaCheck, type SchemaCheck } from './schema.js';
import { checkManifestSemantics } from './semantic-checks.js';
import { toAppSpec, type AppSpec } from './app-spec.js';

export type ManifestResult = { ok: true; app: AppSpec } | { ok: false; errors: ManifestError[] };

export interface ManifestValidator {
  /** Validates one manifest's text. Pure: `file` is only used in messages. */
  validate(text: string, file: string, expectedId?: string): ManifestResult;
}

/** Compiles the schema once; validating is then pure and cheap. */
export function createManifestValidator(schemaCheck: SchemaCheck = compileSchemaCheck()): ManifestValidator {
  return {
    validate(text, file, expectedId) {
      const parsed = parseYamlSource(text, file);
      if (!parsed.ok) return parsed;
      const { source } = parsed;
      const schemaProblems = schemaCheck(source.data);
      if (schemaProblems.length > 0) {
        return { ok: false, errors: sortErrors(schemaProblems.map((p) => source.error(p.path, p.message, p.at))) };
      }
      const manifest = source.data as Manifest;
      const problems = checkManifestSemantics(manifest, expectedId);
      if (problems.length > 0) {
        return { ok: false, errors: sortErrors(problems.map((p) => source.error(p.path, p.message, p.at ?? 'value'))) };
      }
      return { ok: true, app: toAppSpec(manifest) };
    },
  };
}

export function sortErrors(errors: ManifestError[]): ManifestError[] {
  return [...errors].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

export function formatManifestError(e: ManifestError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.field}: ${e.message}`;
}
