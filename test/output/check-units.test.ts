import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkWithGenerator, type AppUnits } from '../../src/output/check-units.js';

// How the units are staged for the generator, and how its verdicts come back to each app. A
// stand-in generator (a shell script) logs the files it was given, makes a service of every
// .container, and refuses those named bad-* the way Quadlet 5.4 words it (with the path, resolved).

let root: string;
afterEach(() => rmSync(root, { recursive: true, force: true }));

function standIn(): { bin: string; seen: () => string[] } {
  root = mkdtempSync(join(tmpdir(), 'aq-check-units-'));
  const log = join(root, 'seen');
  writeFileSync(log, '');
  const bin = join(root, 'quadlet');
  writeFileSync(
    bin,
    `#!/bin/sh
find "$QUADLET_UNIT_DIRS" -type f | sort | while read -r f; do
  echo "\${f#"$QUADLET_UNIT_DIRS"/}" >> '${log}'
  n=$(basename "$f")
  case "$n" in
    bad-*) echo "quadlet-generator[1]: converting \\"$n\\": unsupported key 'X' in group 'Container' in $(cd "$(dirname "$f")" && pwd -P)/$n" >&2 ;;
    *.container) printf -- '---%s.service---\\n[Service]\\n' "\${n%.container}" ;;
  esac
done
exit 0
`,
    { mode: 0o755 },
  );
  return { bin, seen: () => readFileSync(log, 'utf8').split('\n').filter(Boolean).sort() };
}

const unit = (name: string) => ({ name, content: '[Container]\n' });

describe('checkWithGenerator', () => {
  it('stages unique names flat, and gives each message to the app whose file it names', async () => {
    const { bin, seen } = standIn();
    const apps = new Map<string, AppUnits>([
      ['web', { files: [unit('web.container')], services: ['web.service'], context: [unit('node.network')] }],
      ['api', { files: [unit('api.container'), unit('bad-api.container')], services: ['api.service'] }],
    ]);
    const verdicts = await checkWithGenerator(bin, apps, root, '/units');
    expect(seen()).toEqual(['api.container', 'bad-api.container', 'node.network', 'web.container']);
    expect(verdicts.get('web')).toEqual([]);
    expect(verdicts.get('api')).toEqual([
      expect.objectContaining({
        severity: 'error',
        file: 'bad-api.container',
        message: expect.stringContaining(' in /units/api/bad-api.container'),
      }),
    ]);
  });

  it('stages one folder per app when two files share a name, and tells them apart by path', async () => {
    const { bin, seen } = standIn();
    const apps = new Map<string, AppUnits>([
      ['one', { files: [unit('bad-x.container')], services: [] }],
      ['two', { files: [unit('bad-x.container')], services: [] }],
      ['three', { files: [unit('three.container')], services: ['three.service'], context: [unit('n.network')] }],
    ]);
    const verdicts = await checkWithGenerator(bin, apps, root, '/units');
    expect(seen()).toEqual([
      '_context/n.network',
      'one/bad-x.container',
      'three/three.container',
      'two/bad-x.container',
    ]);
    expect(verdicts.get('one')?.map((p) => p.message)).toEqual([
      expect.stringContaining('in /units/one/bad-x.container'),
    ]);
    expect(verdicts.get('two')?.map((p) => p.message)).toEqual([
      expect.stringContaining('in /units/two/bad-x.container'),
    ]);
    expect(verdicts.get('three')).toEqual([]);
  });

  it('rewrites a resolved staging path whose tail is the path it was made under, and files no context unit', async () => {
    const { bin } = standIn();
    // <root>/link → <root>/r<root>/link: the made path is the tail of the resolved one (/home → /var/home).
    const deep = join(root, 'r', root, 'link');
    mkdirSync(deep, { recursive: true });
    symlinkSync(deep, join(root, 'link'));
    const apps = new Map<string, AppUnits>([
      ['api', { files: [unit('bad-api.container')], services: [], context: [unit('bad-ctx.network')] }],
      ['web', { files: [unit('web.container')], services: ['web.service'] }],
    ]);
    const verdicts = await checkWithGenerator(bin, apps, join(root, 'link'), '/units');
    expect(verdicts.get('api')?.map((p) => p.message)).toEqual([
      "converting \"bad-api.container\": unsupported key 'X' in group 'Container' in /units/api/bad-api.container",
    ]);
    expect(verdicts.get('web')).toEqual([]);
  });

  it('names a service the generator did not make as a problem of its app', async () => {
    const { bin } = standIn();
    const apps = new Map<string, AppUnits>([['web', { files: [unit('web.container')], services: ['other.service'] }]]);
    const verdicts = await checkWithGenerator(bin, apps, root, '/units');
    expect(verdicts.get('web')).toEqual([{ severity: 'error', message: 'the generator produced no other.service' }]);
  });
});
