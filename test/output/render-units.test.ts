import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cp, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutDirError, overlapsUnitRoot, renderUnits, type RenderRequest } from '../../src/output/render-units.js';
import { resolvePaths } from '../../src/paths.js';
import { parseOwnedHeader } from '../../src/render/unit-file.js';
import { BAD_CASES } from '../fixtures/bad/cases.js';

// The render pipeline on real files in a temporary catalog and unit directory.

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

describe('renderUnits', () => {
  it('writes into --out, one folder per app', async () => {
    await addApp('web', GOOD('web'));
    const report = await renderUnits(req);
    expect(report.outDir).toBe(join(root, 'out'));
    expect(report.apps.map((a) => [a.id, a.status])).toEqual([['web', 'rendered']]);
    expect(await listTree(report.outDir)).toEqual(['web', 'web/web.container']);
  });

  it("never writes into the supervisor's unit tree (or a folder that holds it): the supervisor is its one writer", async () => {
    await addApp('web', GOOD('web'));
    for (const outDir of [req.paths.unitRoot, join(req.paths.unitRoot, 'web'), join(root, 'config')]) {
      await expect(renderUnits({ ...req, outDir })).rejects.toBeInstanceOf(OutDirError);
    }
    expect(existsSync(req.paths.unitRoot)).toBe(false);
    expect(overlapsUnitRoot(join(root, 'config-other'), req.paths.unitRoot)).toBe(false);
  });

  it('writes nothing the second time, and only what changed after an edit', async () => {
    await addApp('web', GOOD('web'));
    await addApp('api', GOOD('api', 9090));
    await renderUnits(req);
    const again = await renderUnits(req);
    expect(again.apps.map((a) => a.status)).toEqual(['unchanged', 'unchanged']);
    await addApp('web', GOOD('web', 8181));
    const third = await renderUnits(req);
    expect(third.apps.map((a) => [a.id, a.status, a.changes.map((c) => c.action)])).toEqual([
      ['api', 'unchanged', ['unchanged']],
      ['web', 'rendered', ['update']],
    ]);
    expect(await readFile(join(third.outDir, 'web/web.container'), 'utf8')).toContain('PublishPort=8181:8181');
  });

  it('--dry-run reports the changes and writes nothing', async () => {
    await addApp('web', GOOD('web'));
    const report = await renderUnits({ ...req, dryRun: true });
    expect(report.apps[0]!.changes.map((c) => c.action)).toEqual(['create']);
    expect(existsSync(report.outDir)).toBe(false);
  });

  it('keeps the last good units of an app whose manifest breaks, and still renders the others', async () => {
    await addApp('web', GOOD('web'));
    await addApp('api', GOOD('api', 9090));
    const first = await renderUnits(req);
    const before = await readFile(join(first.outDir, 'web/web.container'), 'utf8');
    await addApp('web', 'schemaVersion: 1\nid: web\n  name: [broken');
    await addApp('api', GOOD('api', 9191));
    const second = await renderUnits(req);
    expect(second.apps.map((a) => [a.id, a.status])).toEqual([
      ['api', 'rendered'],
      ['web', 'invalid'],
    ]);
    expect(second.apps[1]!.errors[0]!.file).toBe(join(root, 'apps/web/manifest.yml'));
    expect(await readFile(join(first.outDir, 'web/web.container'), 'utf8')).toBe(before);
    expect(await readFile(join(first.outDir, 'api/api.container'), 'utf8')).toContain('9191');
  });

  it('writes no file for any malformed manifest, next to a good app that is rendered', async () => {
    await addApp('good', GOOD('good'));
    for (const name of Object.keys(BAD_CASES)) {
      await cp(new URL(`../fixtures/bad/${name}.yml`, import.meta.url), join(root, 'apps/bad/manifest.yml'));
      const report = await renderUnits(req);
      const bad = report.apps.find((a) => a.id === 'bad')!;
      expect(bad.status, name).toBe('invalid');
      expect(bad.errors.length, name).toBeGreaterThan(0);
      expect(await listTree(report.outDir), name).toEqual(['good', 'good/good.container']);
    }
  });

  it('removes files of ours that are no longer rendered, and never touches files it did not write', async () => {
    await addApp('web', GOOD('web'));
    await addApp('gone', GOOD('gone', 7070));
    const first = await renderUnits(req);
    const foreign = '[Container]\nImage=docker.io/library/nginx:1.27\n';
    await writeFile(join(first.outDir, 'web/mine.container'), foreign);
    await writeFile(join(first.outDir, 'gone/theirs.container'), foreign);
    await rm(join(root, 'apps/gone'), { recursive: true });
    const second = await renderUnits(req);
    expect(second.apps.find((a) => a.id === 'gone')?.status).toBe('removed');
    expect(await listTree(first.outDir)).toEqual([
      'gone',
      'gone/theirs.container',
      'web',
      'web/mine.container',
      'web/web.container',
    ]);
    expect(await readFile(join(first.outDir, 'web/mine.container'), 'utf8')).toBe(foreign);
  });

  it('refuses to overwrite a file of the same name that it did not write', async () => {
    await addApp('web', GOOD('web'));
    const dir = join(req.outDir, 'web');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'web.container'), '# hand-made\n[Container]\nImage=docker.io/library/nginx:1.27\n');
    const report = await renderUnits(req);
    expect(report.apps[0]!.status).toBe('conflict');
    expect(await readFile(join(dir, 'web.container'), 'utf8')).toContain('# hand-made');
  });

  it('restores a unit edited by hand (its header hash no longer matches)', async () => {
    await addApp('web', GOOD('web'));
    const first = await renderUnits(req);
    const file = join(first.outDir, 'web/web.container');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace('PublishPort=8080:8080', 'PublishPort=9999:8080'));
    expect(parseOwnedHeader(await readFile(file, 'utf8'))!.intact).toBe(false);
    const second = await renderUnits(req);
    expect(second.apps[0]!.changes.map((c) => c.action)).toEqual(['update']);
    expect(await readFile(file, 'utf8')).toBe(good);
  });

  it('reports an app id that is not in the catalog, or not an id at all, without rendering the rest', async () => {
    await addApp('web', GOOD('web'));
    const report = await renderUnits({ ...req, appIds: ['nope', '../etc'] });
    expect(report.apps.map((a) => [a.id, a.status, a.errors[0]?.message])).toEqual([
      ['../etc', 'invalid', '"../etc" is not an app id (a DNS label)'],
      ['nope', 'invalid', 'no app "nope" in the catalog'],
    ]);
    expect(existsSync(report.outDir)).toBe(false);
  });
});
