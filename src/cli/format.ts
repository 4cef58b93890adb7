import type { ManifestError } from '../manifest/types.js';
import { formatManifestError } from '../manifest/validate-manifest.js';

/** `file:line:col: field: message`; an error without a position shows the file only. */
export function formatError(e: ManifestError): string {
  return e.line > 0 ? formatManifestError(e) : `${e.file}: ${e.field}: ${e.message}`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** What status and explain say of an adoption. */
/** One line per image pulled before an update's switch (status, explain). */
export function pullLines(
  pulls: Array<{ image: string; state: string; failures?: number; retryInSec?: number }>,
): string[] {
  return pulls.map((p) =>
    p.state === 'pulling'
      ? `pulling ${p.image} (its unit is written once it is in the store; a running version stays up meanwhile)`
      : `pull of ${p.image} failed ${p.failures ?? 1} time(s): a running version stays; next try in ${p.retryInSec ?? 0} s (archy-quadlet explain says why)`,
  );
}

export function adoptionLine(x: { phase: string; since: string; reason?: string }): string {
  if (x.phase === 'rolledBack')
    return `adoption rolled back (begun ${x.since}): ${x.reason ?? 'no reason recorded'}; the old containers run as before`;
  if (x.phase === 'rollingBack') return `adoption failed, rolling back: ${x.reason ?? ''}`;
  return `being adopted since ${x.since} (${x.phase === 'retiring' ? 'old containers being stopped' : 'units starting'})`;
}
