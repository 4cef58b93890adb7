import type { ManifestError } from '../manifest/types.js';
import { formatManifestError } from '../manifest/validate-manifest.js';

/** `file:line:col: field: message`; an error without a position shows the file only. */
export function formatError(e: ManifestError): string {
  return e.line > 0 ? formatManifestError(e) : `${e.file}: ${e.field}: ${e.message}`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
