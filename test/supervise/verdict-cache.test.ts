import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realQuadlet } from '../../src/supervise/observe.js';

// The generator's verdicts are remembered while the same files are asked about: a held app
// is checked once, not by every status, pass and --wait poll. A stand-in generator (a shell
// script) counts its runs and rejects what contains "Frobnicate".

let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('the verdict cache of the generator check', () => {
  it('asks the generator once per set of files, and again when the files change', async () => {
    root = mkdtempSync(join(tmpdir(), 'aq-verdicts-'));
    const runs = join(root, 'runs');
    writeFileSync(runs, '');
    const bin = join(root, 'quadlet');
    writeFileSync(
      bin,
      `#!/bin/sh\necho run >> ${runs}\nfor f in $(find "$QUADLET_UNIT_DIRS" -type f); do\n  grep -q Frobnicate "$f" && echo "quadlet-generator[1]: converting \\"$(basename "$f")\\": unsupported key 'Frobnicate' in group 'Container' in $f" >&2\ndone\nexit 0\n`,
      { mode: 0o755 },
    );
    const quadlet = realQuadlet({ ARCHY_QUADLET_BIN: bin }, '/units', root);
    const bad = new Map([
      ['web', { files: [{ name: 'web.container', content: '[Container]\nFrobnicate=1\n' }], services: [] }],
    ]);
    const good = new Map([['api', { files: [{ name: 'api.container', content: '[Container]\n' }], services: [] }]]);
    const count = () => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;

    const first = await quadlet.rejections(bad);
    expect(first?.web).toMatch(/unsupported key 'Frobnicate'/);
    expect(first?.web).toMatch(/\/units\/web\/web\.container/); // the unit directory, not the copy
    expect(await quadlet.rejections(bad)).toEqual(first);
    expect(count()).toBe(1);
    expect(await quadlet.rejections(good)).toEqual({});
    expect(count()).toBe(2);
    expect(await quadlet.rejections(good)).toEqual({});
    expect(count()).toBe(2);
    // Damaged: asked again, then remembered again.
    writeFileSync(join(root, 'archy-quadlet.verdicts.json'), '{ nope');
    expect(await quadlet.rejections(good)).toEqual({});
    expect(count()).toBe(3);
  });
});
