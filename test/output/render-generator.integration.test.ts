import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderUnits, type RenderRequest } from '../../src/output/render-units.js';
import { resolvePaths } from '../../src/paths.js';
import { QUADLET_BIN, requireLab } from '../support/lab.js';

// The render pipeline with the real Quadlet generator as its judge (the rest: render-units.test.ts).

const GOOD = (id: string, port = 8080) => `schemaVersion: 1
id: ${id}
name: ${id}
version: "1.0.0"
containers:
  - name: ${id}
    image: localhost/busybox:latest
    command: ["httpd", "-f", "-p", "${port}"]
    ports:
      - containerPort: ${port}
`;

let root: string;
let req: RenderRequest;

async function addApp(id: string, text: string) {
  await mkdir(join(root, 'apps', id), { recursive: true });
  await writeFile(join(root, 'apps', id, 'manifest.yml'), text);
}

async function listTree(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'aq-render-'));
  await mkdir(join(root, 'apps'));
  const paths = resolvePaths({
    env: { XDG_CONFIG_HOME: join(root, 'config') },
    home: root,
    bundledAppsDir: join(root, 'apps'),
  });
  req = { paths, appIds: [], outDir: join(root, 'out'), dryRun: false, startAtBoot: () => true, quadletBin: undefined };
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const enabled = requireLab('quadlet');

describe.runIf(enabled)('renderUnits with the real generator', () => {
  it('with the real generator: an app it rejects is reported and skipped, the others are written', async () => {
    await addApp('web', GOOD('web'));
    await addApp('api', GOOD('api', 9090));
    // A unit the generator rejects while our validator accepts it: simulate with a generator
    // wrapper that breaks api's files (the real binary judges; the wrapper only edits input).
    const wrapper = join(root, 'quadlet-wrapper.sh');
    await writeFile(
      wrapper,
      `#!/bin/sh\nfind "$QUADLET_UNIT_DIRS" -name api.container -exec sed -i 's/^\\[Container\\]$/[Container]\\nFrobnicate=1/' {} +\nexec ${QUADLET_BIN} "$@"\n`,
      { mode: 0o755 },
    );
    const report = await renderUnits({ ...req, quadletBin: wrapper });
    const api = report.apps.find((a) => a.id === 'api')!;
    expect(api.status).toBe('rejected');
    expect(api.generator.map((p) => p.message).join('\n')).toMatch(/unsupported key 'Frobnicate' in group 'Container'/);
    expect(report.apps.find((a) => a.id === 'web')!.status).toBe('rendered');
    expect(await listTree(report.outDir)).toEqual(['web', 'web/web.container']);
  });
});
