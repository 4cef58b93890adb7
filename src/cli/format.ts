import type { ManifestError } from '../manifest/types.js';
import { formatManifestError } from '../manifest/manifest-errors.js';

/** `file:line:col: field: message`; an error without a position shows the file only. */
export function formatError(e: ManifestError): string {
  return e.line > 0 ? formatManifestError(e) : `${e.file}: ${e.field}: ${e.message}`;
}

export function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/** One line per image pulled before an update's switch (status, explain). */
export function pullLines(
  pulls: Array<{ image: string; state: string; failures?: number; retryInSec?: number; build?: true }>,
): string[] {
  return pulls.map((p) =>
    p.state === 'pulling'
      ? `${p.build ? 'building' : 'pulling'} ${p.image} (its unit is written once it is in the store; a running version stays up meanwhile)`
      : `${p.build ? 'build' : 'pull'} of ${p.image} failed ${p.failures ?? 1} time(s): a running version stays; next try in ${p.retryInSec ?? 0} s (archy-quadlet explain says why)`,
  );
}

/** What status and explain say of an update being watched or rolled back. */
export function updateLine(x: {
  phase: string;
  since: string;
  toVersion?: string;
  fromVersion?: string;
  reason?: string;
  rollbackUnhealthy?: string;
}): string {
  const to = x.toVersion ? ` to ${x.toVersion}` : '';
  const from = x.fromVersion ? ` (${x.fromVersion})` : '';
  if (x.phase === 'rolledBack')
    return (
      `update${to} rolled back (begun ${x.since}): ${x.reason ?? 'no reason recorded'}; ` +
      (x.rollbackUnhealthy
        ? `the last good set${from} is not healthy either (${x.rollbackUnhealthy}): restarted with backoff; `
        : `the last good set${from} runs; `) +
      'not tried again until the manifest changes or: archy-quadlet update <app> --retry'
    );
  if (x.phase === 'rollingBack')
    return `update${to} failed, rolling back to the last good set${from}: ${x.reason ?? ''}`;
  return `updating${to} since ${x.since}: rolled back to the last good set${from} unless healthy within its start timeout`;
}

/** What status and explain say of an adoption. */
export function adoptionLine(x: { phase: string; since: string; reason?: string }): string {
  if (x.phase === 'rolledBack')
    return `adoption rolled back (begun ${x.since}): ${x.reason ?? 'no reason recorded'}; the old containers run as before`;
  if (x.phase === 'rollingBack') return `adoption failed, rolling back: ${x.reason ?? ''}`;
  return `being adopted since ${x.since} (${x.phase === 'retiring' ? 'old containers being stopped' : 'units starting'})`;
}
