// Escaping of values for Quadlet 5.4 source files. The rules were measured against the real
// generator and systemd (docs/quadlet-escaping.md); test/render/escape.integration.test.ts
// keeps proving them with hostile strings, through a running container.

/** Thrown for a value the unit-file format cannot carry; validation should have caught it first. */
export class UnitValueError extends Error {}

const GO_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Most values have no surrogate at all: this plain class is much cheaper than the lookarounds.
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const hasLoneSurrogate = (s: string) => ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s);

function checkCommon(s: string): void {
  if (s.includes('\0')) throw new UnitValueError('a NUL character cannot be written into a unit file');
  if (hasLoneSurrogate(s)) throw new UnitValueError('an unpaired UTF-16 surrogate is not text');
  // Quadlet writes U+0080 back as \x80, which systemd reads as U+FFFD.
  if (s.includes('\u0080')) throw new UnitValueError('U+0080 does not survive the generator');
}

/**
 * A value Quadlet takes whole (WorkingDir=, Image=, Volume=, ...). Quadlet trims whitespace
 * and strips quotes at the ends, a trailing backslash continues the line, and it escapes
 * nothing systemd expands: only % and $ need doubling, the rest must be refused.
 */
export function rawValue(s: string): string {
  checkCommon(s);
  if (s === '') throw new UnitValueError('an empty value means "unset" in a unit file');
  // The ends are compared with white space, quotes and a backslash, all single UTF-16 units:
  // half of a surrogate pair matches none of them, so no code-point split is needed.
  const first = s[0]!;
  const last = s[s.length - 1]!;
  if (/[\n\r]/.test(s)) throw new UnitValueError('a line break cannot be part of a value');
  if (GO_SPACE.test(first) || GO_SPACE.test(last))
    throw new UnitValueError(`leading or trailing white space would be trimmed: ${JSON.stringify(s)}`);
  if (first === '"' || last === '"')
    throw new UnitValueError(`a leading or trailing quote would be stripped: ${JSON.stringify(s)}`);
  if (last === '\\') throw new UnitValueError(`a trailing backslash would join the next line: ${JSON.stringify(s)}`);
  if (s === ';') throw new UnitValueError('a lone ";" separates commands in ExecStart');
  return s.includes('%') || s.includes('$') ? s.replace(/%/g, '%%').replace(/\$/g, '$$$$') : s;
}

/** One argument for keys Quadlet splits into words (Exec=, Environment=, Label=, Secret=, PodmanArgs=). */
export function quoteWord(s: string): string {
  checkCommon(s);
  if (s === '' || s === ';') throw new UnitValueError(`the argument ${JSON.stringify(s)} needs argumentLine()`);
  // Most words need no escape at all: the loop below builds a new string per character.
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === '"') out += '\\"';
    else if (ch === '%')
      out += '%%'; // systemd specifier
    else if (ch === '$')
      out += '$$'; // systemd environment expansion
    else if (ch === '\n') out += '\\n';
    else if (ch === '\t') out += '\\t';
    else if (ch === '\r') out += '\\r';
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `${out}"`; // always quoted: the line never ends in white space or a backslash
}

const NEEDS_ESCAPE = /[\\"%$\u0000-\u001f\u007f]/;

/** Words for a key=value key (Environment=, Label=): one pair, one quoted word. */
export function keyValueWord(key: string, value: string): string {
  if (key === '' || key.includes('=')) throw new UnitValueError(`bad key ${JSON.stringify(key)}`);
  return quoteWord(`${key}=${value}`);
}

/** Variables the generated service must define for arguments no quoting can carry. */
export const EMPTY_ARG_VAR = 'ARCHY_QUADLET_EMPTY';
export const SEMICOLON_ARG_VAR = 'ARCHY_QUADLET_SEMICOLON';

/**
 * A whole argument list for Exec=. Quadlet cuts the line at an empty word and systemd reads a
 * lone ";" as a command separator; both go through ${VAR}, set in [Service] Environment=.
 */
export function argumentLine(args: readonly string[]): { line: string; serviceEnv: Array<[string, string]> } {
  const env = new Map<string, string>();
  const words = args.map((a) => {
    if (a === '') {
      env.set(EMPTY_ARG_VAR, `${EMPTY_ARG_VAR}=`);
      return `\${${EMPTY_ARG_VAR}}`;
    }
    if (a === ';') {
      env.set(SEMICOLON_ARG_VAR, `${SEMICOLON_ARG_VAR}=;`);
      return `\${${SEMICOLON_ARG_VAR}}`;
    }
    return quoteWord(a);
  });
  return { line: words.join(' '), serviceEnv: [...env.values()].sort().map((v) => ['Environment', v]) };
}

/**
 * A JSON array given whole to Entrypoint= or HealthCmd=, which Podman reads as exec form.
 * ASCII only, with % and $ hidden as \u0025 and \u0024, so neither Quadlet nor systemd
 * touches it: any string survives.
 */
export function jsonArrayValue(args: readonly string[]): string {
  for (const a of args) {
    if (a.includes('\0') || hasLoneSurrogate(a))
      throw new UnitValueError('NUL or an unpaired surrogate cannot be passed');
  }
  return JSON.stringify(args).replace(
    /[^\x20-\x7e]|[%$]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

const LONE_SURROGATES = new RegExp(LONE_SURROGATE, 'g');

/**
 * Free text for systemd's own keys (Description=): systemd expands % there, not $. Text
 * that a unit line cannot hold is replaced, since a description is only shown.
 */
export function descriptionText(s: string): string {
  const clean = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, ' ').replace(LONE_SURROGATES, '\ufffd');
  return (
    clean
      .replace(/^[\s"]+/u, '')
      .replace(/[\s"\\]+$/u, '')
      .replace(/%/g, '%%') || '-'
  );
}
