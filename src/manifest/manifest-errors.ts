import type { ManifestError } from './types.js';

// Apart from validate-manifest.ts so that what only sorts or prints errors (the catalog's
// checks, the CLI's output) does not load the YAML readers with it (issue 15).

/** By file (code-point order: no ICU collation to load for it), then line and column. */
export function sortErrors(errors: ManifestError[]): ManifestError[] {
  const byFile = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return [...errors].sort((a, b) => byFile(a.file, b.file) || a.line - b.line || a.col - b.col);
}

export function formatManifestError(e: ManifestError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.field}: ${e.message}`;
}
