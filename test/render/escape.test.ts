import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  argumentLine,
  descriptionText,
  jsonArrayValue,
  keyValueWord,
  quoteWord,
  rawValue,
  UnitValueError,
} from '../../src/render/escape.js';

describe('rawValue', () => {
  it('doubles what systemd would expand, and nothing else', () => {
    expect(rawValue('/srv/100%/$HOME')).toBe('/srv/100%%/$$HOME');
    expect(rawValue('a "quoted" \\ word')).toBe('a "quoted" \\ word');
  });
  it.each([
    ['', 'empty'],
    [' lead', 'leading space'],
    ['trail\u00a0', 'trailing NBSP (Go trims it)'],
    ['"quoted"', 'edge quotes'],
    ['end\\', 'trailing backslash'],
    ['a\nb', 'newline'],
    [';', 'lone semicolon'],
    ['nul\0', 'NUL'],
    ['\u0080', 'U+0080'],
    ['\ud800', 'lone surrogate'],
  ])('refuses %j (%s)', (value) => {
    expect(() => rawValue(value)).toThrow(UnitValueError);
  });
});

describe('quoteWord and argumentLine', () => {
  it('always quotes, escaping backslash, quote, % and $', () => {
    expect(quoteWord('a b')).toBe('"a b"');
    expect(quoteWord('say "hi" \\ 50% $X')).toBe('"say \\"hi\\" \\\\ 50%% $$X"');
    expect(quoteWord('tab\there\u0001')).toBe('"tab\\there\\x01"');
  });
  it('passes the empty argument and a lone ";" through variables the service defines', () => {
    expect(argumentLine(['redis-server', '--save', '', ';'])).toEqual({
      line: '"redis-server" "--save" ${ARCHY_QUADLET_EMPTY} ${ARCHY_QUADLET_SEMICOLON}',
      serviceEnv: [
        ['Environment', 'ARCHY_QUADLET_EMPTY='],
        ['Environment', 'ARCHY_QUADLET_SEMICOLON=;'],
      ],
    });
    expect(argumentLine(['a']).serviceEnv).toEqual([]);
  });
  it('refuses a key with "=" in a key=value word', () => {
    expect(() => keyValueWord('A=B', 'c')).toThrow(UnitValueError);
    expect(keyValueWord('A', '')).toBe('"A="');
  });
});

describe('jsonArrayValue', () => {
  it('is ASCII JSON with % and $ hidden from systemd', () => {
    expect(jsonArrayValue(['sh', '-c', 'echo $HOME 100% ₿'])).toBe('["sh","-c","echo \\u0024HOME 100\\u0025 \\u20bf"]');
    expect(JSON.parse(jsonArrayValue([' a ', 'b\\', '"']))).toEqual([' a ', 'b\\', '"']);
  });
});

describe('descriptionText', () => {
  it('keeps text readable and safe on one line', () => {
    expect(descriptionText('  Bitcoin 100% \\ ')).toBe('Bitcoin 100%%');
    expect(descriptionText('"x"\n')).toBe('x');
    expect(descriptionText('   ')).toBe('-');
  });
});

// The fast paths (no spread of the string, no per-character loop for a plain word) must give
// what the plain definitions give, refusals included: these are those definitions.
describe('fast paths agree with the plain definitions', () => {
  const reference = {
    rawValue(s: string): string {
      const chars = [...s];
      if (s.includes('\0') || /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s))
        throw new UnitValueError('x');
      if (s.includes('\u0080') || chars.length === 0 || /[\n\r]/.test(s)) throw new UnitValueError('x');
      const [first, last] = [chars[0]!, chars[chars.length - 1]!];
      const space = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
      if (space.test(first) || space.test(last) || first === '"' || last === '"' || last === '\\' || s === ';')
        throw new UnitValueError('x');
      return s.replace(/%/g, '%%').replace(/\$/g, '$$$$');
    },
    quoteWord(s: string): string {
      rawOk(s);
      let out = '"';
      for (const ch of s) {
        const c = ch.codePointAt(0)!;
        if (ch === '\\' || ch === '"') out += `\\${ch}`;
        else if (ch === '%' || ch === '$') out += ch + ch;
        else if (ch === '\n') out += '\\n';
        else if (ch === '\t') out += '\\t';
        else if (ch === '\r') out += '\\r';
        else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
        else out += ch;
      }
      return `${out}"`;
    },
  };
  function rawOk(s: string): void {
    if (s === '' || s === ';' || s.includes('\0') || s.includes('\u0080')) throw new UnitValueError('x');
    if (/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(s)) throw new UnitValueError('x');
  }
  const outcome = (f: (s: string) => string, s: string) => {
    try {
      return f(s);
    } catch (e) {
      return e instanceof UnitValueError ? 'refused' : `threw ${(e as Error).message}`;
    }
  };
  // Characters the rules are about, with any code unit (lone surrogates included) among them.
  const tricky = fc.constantFrom(
    ...['a', ' ', '"', '\\', '%', '$', ';', '\n', '\r', '\t', '\0', '\u0001', '\u007f', '\u0080', '\u00a0'],
    ...['\u3000', '₿', '😀', '\ud83d', '\ude00', '\ud800', '\udfff'],
  );
  const strings = fc.oneof(fc.string({ unit: tricky, maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 12 }));
  it('rawValue', () => {
    fc.assert(
      fc.property(strings, (s) => {
        expect(outcome(rawValue, s)).toBe(outcome(reference.rawValue, s));
      }),
      {
        numRuns: 5000,
      },
    );
  });
  it('quoteWord', () => {
    fc.assert(
      fc.property(strings, (s) => {
        expect(outcome(quoteWord, s)).toBe(outcome(reference.quoteWord, s));
      }),
      {
        numRuns: 5000,
      },
    );
  });
});
