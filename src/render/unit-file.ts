import * as crypto from 'node:crypto';

/** One `Key=value` line; `value` is already escaped for unit-file syntax. */
export type UnitEntry = readonly [key: string, value: string];
export interface UnitSection {
  name: string;
  entries: UnitEntry[];
}

export const HEADER_MARK = '# archy-quadlet:';

/** Unit text: sections in the given order, empty sections left out. */
export function serializeSections(sections: UnitSection[]): string {
  // One string built in place: every rendered file goes through here (issue 15).
  let out = '';
  for (const s of sections) {
    if (s.entries.length === 0) continue;
    if (out !== '') out += '\n';
    out += `[${s.name}]\n`;
    for (const [k, v] of s.entries) out += `${k}=${v}\n`;
  }
  return out;
}

// crypto.hash (Node 20.12+) hashes a string in one call, about twice as fast as a Hash object
// for a unit's size (measured); every rendered file is hashed for its header. Node 20.0–20.11
// have only createHash. Read as a property so that a bundler keeps the check.
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

export function sha256(text: string): string {
  return oneShotHash
    ? oneShotHash('sha256', text, 'hex')
    : crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * The first lines of every file we write. The mark line is what makes a file ours; its
 * hash covers the body, so a hand edit is visible without keeping any other record.
 */
export function withHeader(body: string, app: string, source: string): string {
  const printable = source.replace(/[\u0000-\u001f\u007f]/g, '?');
  return (
    `# Written by archy-quadlet from ${printable}. Do not edit: changes are overwritten.\n` +
    `${HEADER_MARK} app=${app} sha256=${sha256(body)}\n\n${body}`
  );
}

export interface OwnedHeader {
  app: string;
  sha256: string;
  /** The body still hashes to what the header says: nobody edited it. */
  intact: boolean;
}

/** Reads our header; undefined for a file we did not write. */
export function parseOwnedHeader(content: string): OwnedHeader | undefined {
  const lines = content.split('\n', 3);
  const m = /^# archy-quadlet: app=([a-z0-9-]+) sha256=([0-9a-f]{64})$/.exec(lines[1] ?? '');
  if (!lines[0]?.startsWith('# Written by archy-quadlet') || !m) return undefined;
  const bodyStart = content.indexOf('\n\n');
  const body = bodyStart < 0 ? '' : content.slice(bodyStart + 2);
  return { app: m[1]!, sha256: m[2]!, intact: sha256(body) === m[2] };
}
