import type { ManifestError } from './types.js';

// Apart from validate-manifest.ts so that what only sorts or prints errors (the catalog's
// checks, the CLI's output) does not load the YAML readers with it (issue 15).

export function sortErrors(errors: ManifestError[]): ManifestError[] {
  return [...errors].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

export function formatManifestError(e: ManifestError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.field}: ${e.message}`;
}
