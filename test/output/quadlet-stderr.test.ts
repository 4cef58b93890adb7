import { describe, expect, it } from 'vitest';
import { parseGeneratorStderr } from '../../src/output/quadlet-generator.js';

// The one parser of `quadlet -dryrun` stderr: render, the supervisor, explain and doctor read
// its problems. Lines as Quadlet prints them (Podman 5.4; the warning's text is Podman's own).
const PREFIX = 'quadlet-generator[1]: ';
const LOADING = 'Loading source unit file /u/a.container';
const NOT_KEY_VALUE = 'file contains line 3: “x” which is not a key-value pair, group, or comment';
const UNPARSABLE = `error loading "/u/bad.container", ${NOT_KEY_VALUE}`;
const UNSUPPORTED = "converting \"b.network\": unsupported key 'Foo' in group 'Network' in /u/b.network";
const SHORT_NAME =
  'Warning: web.container specifies the image "nginx" which not a fully qualified image name. ' +
  'This is not ideal for performance and security reasons. ' +
  'See the podman-pull manpage discussion of short-name-aliases.conf for details.';

describe('parseGeneratorStderr', () => {
  it("skips the generator's progress lines and blank ones", () => {
    expect(parseGeneratorStderr(`${PREFIX}${LOADING}\n\n`)).toEqual([]);
  });

  it('reads a file it could not load: its name, full path and what is wrong with it', () => {
    expect(parseGeneratorStderr(PREFIX + UNPARSABLE)).toEqual([
      {
        severity: 'error',
        message: UNPARSABLE,
        file: 'bad.container',
        path: '/u/bad.container',
        reason: NOT_KEY_VALUE,
      },
    ]);
  });

  it('reads a file it could not convert, with the path a key error ends with', () => {
    expect(parseGeneratorStderr(PREFIX + UNSUPPORTED)).toEqual([
      {
        severity: 'error',
        message: UNSUPPORTED,
        file: 'b.network',
        path: '/u/b.network',
        reason: "unsupported key 'Foo' in group 'Network'",
      },
    ]);
    // Without a path at the end, the name it quotes is all there is.
    const memory = 'converting "web.container": unsupported key \'Memory\'';
    expect(parseGeneratorStderr(memory)).toEqual([
      { severity: 'error', message: memory, file: 'web.container', reason: "unsupported key 'Memory'" },
    ]);
  });

  it('reads a warning as a warning: it refuses no file', () => {
    const [warning] = parseGeneratorStderr(PREFIX + SHORT_NAME);
    expect(warning).toMatchObject({ severity: 'warning', file: 'web.container', message: SHORT_NAME });
    expect(warning).not.toHaveProperty('reason');
    expect(warning).not.toHaveProperty('path');
  });

  it('keeps the order of a whole log', () => {
    const log = [LOADING, UNPARSABLE, SHORT_NAME, UNSUPPORTED].map((l) => PREFIX + l).join('\n');
    const problems = parseGeneratorStderr(log);
    expect(problems.map((p) => [p.severity, p.file])).toEqual([
      ['error', 'bad.container'],
      ['warning', 'web.container'],
      ['error', 'b.network'],
    ]);
  });
});
