import { describe, expect, it } from 'vitest';
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
