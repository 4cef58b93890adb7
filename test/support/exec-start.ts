/**
 * Splits a generated ExecStart= line into argv the way systemd does for the cases the
 * generator writes: words separated by blanks, "..." and '...' quoting, C escapes, %% and $$.
 * A test helper for reading the generator's output, not a full systemd parser.
 */
export function splitExecStart(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  while (i < n) {
    while (i < n && /\s/.test(line[i]!)) i++;
    if (i >= n) break;
    let word = '';
    while (i < n && !/\s/.test(line[i]!)) {
      const c = line[i]!;
      if (c === '"' || c === "'") {
        const q = c;
        i++;
        while (i < n && line[i] !== q) {
          if (line[i] === '\\' && i + 1 < n) {
            const [text, len] = unescape(line, i + 1);
            word += text;
            i += 1 + len;
          } else word += line[i++];
        }
        i++; // closing quote
      } else if (c === '\\' && i + 1 < n) {
        const [text, len] = unescape(line, i + 1);
        word += text;
        i += 1 + len;
      } else word += line[i++];
    }
    out.push(word.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return out;
}

function unescape(s: string, at: number): [string, number] {
  const c = s[at]!;
  const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", ' ': ' ' };
  if (c in simple) return [simple[c]!, 1];
  if (c === 'x') return [String.fromCharCode(parseInt(s.slice(at + 1, at + 3), 16)), 3];
  return [`\\${c}`, 1];
}

/** The value that follows `flag` (as `--flag value` or `--flag=value`), for every occurrence. */
export function flagValues(argv: string[], flag: string): string[] {
  const values: string[] = [];
  argv.forEach((a, i) => {
    if (a === flag && i + 1 < argv.length) values.push(argv[i + 1]!);
    else if (a.startsWith(`${flag}=`)) values.push(a.slice(flag.length + 1));
  });
  return values;
}
