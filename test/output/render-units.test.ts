import { describe, expect, it } from 'vitest';
import { GOOD, listTree, useRenderFixture } from './render-fixture.js';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { OutDirError, overlapsUnitRoot, renderUnits } from '../../src/output/render-units.js';
import { parseOwnedHeader } from '../../src/render/unit-file.js';
import { BAD_CASES } from '../fixtures/bad/cases.js';

// The render pipeline on real files in a temporary catalog and unit directory.

const fx = useRenderFixture();
const addApp = (id: string, text: string) => fx.addApp(id, text);

describe('renderUnits', () => {
  it('writes into --out, one folder per app', async () => {
    await addApp('web', GOOD('web'));
    const report = await renderUnits(fx.req);
    expect(report.outDir).toBe(join(fx.root, 'out'));
    expect(report.apps.map((a) => [a.id, a.status])).toEqual([['web', 'rendered']]);
    expect(await listTree(report.outDir)).toEqual(['web', 'web/web.container']);
  });

  it("never writes into the supervisor's unit tree (or a folder that holds it): the supervisor is its one writer", async () => {
    await addApp('web', GOOD('web'));
    for (const outDir of [fx.req.paths.unitRoot, join(fx.req.paths.unitRoot, 'web'), join(fx.root, 'config')]) {
      await expect(renderUnits({ ...fx.req, outDir })).rejects.toBeInstanceOf(OutDirError);
    }
    expect(existsSync(fx.req.paths.unitRoot)).toBe(false);
    expect(overlapsUnitRoot(join(fx.root, 'config-other'), fx.req.paths.unitRoot)).toBe(false);
  });

  it('writes nothing the second time, and only what changed after an edit', async () => {
    await addApp('web', GOOD('web'));
    await addApp('api', GOOD('api', 9090));
    await renderUnits(fx.req);
    const again = await renderUnits(fx.req);
    expect(again.apps.map((a) => a.status)).toEqual(['unchanged', 'unchanged']);
    await addApp('web', GOOD('web', 8181));
    const third = await renderUnits(fx.req);
    expect(third.apps.map((a) => [a.id, a.status, a.changes.map((c) => c.action)])).toEqual([
      ['api', 'unchanged', ['unchanged']],
      ['web', 'rendered', ['update']],
    ]);
    expect(await readFile(join(third.outDir, 'web/web.container'), 'utf8')).toContain('PublishPort=8181:8181');
  });

  it('--dry-run reports the changes and writes nothing', async () => {
    await addApp('web', GOOD('web'));
    const report = await renderUnits({ ...fx.req, dryRun: true });
    expect(report.apps[0]!.changes.map((c) => c.action)).toEqual(['create']);
    expect(existsSync(report.outDir)).toBe(false);
  });

  it('keeps the last good units of an app whose manifest breaks, and still renders the others', async () => {
    await addApp('web', GOOD('web'));
    await addApp('api', GOOD('api', 9090));
    const first = await renderUnits(fx.req);
    const before = await readFile(join(first.outDir, 'web/web.container'), 'utf8');
    await addApp('web', 'schemaVersion: 1\nid: web\n  name: [broken');
    await addApp('api', GOOD('api', 9191));
    const second = await renderUnits(fx.req);
    expect(second.apps.map((a) => [a.id, a.status])).toEqual([
      ['api', 'rendered'],
      ['web', 'invalid'],
    ]);
    expect(second.apps[1]!.errors[0]!.file).toBe(join(fx.root, 'apps/web/manifest.yml'));
    expect(await readFile(join(first.outDir, 'web/web.container'), 'utf8')).toBe(before);
    expect(await readFile(join(first.outDir, 'api/api.container'), 'utf8')).toContain('9191');
  });

  it('writes no file for any malformed manifest, next to a good app that is rendered', async () => {
    await addApp('good', GOOD('good'));
    for (const name of Object.keys(BAD_CASES)) {
      await cp(new URL(`../fixtures/bad/${name}.yml`, import.meta.url), join(fx.root, 'apps/bad/manifest.yml'));
      const report = await renderUnits(fx.req);
      const bad = report.apps.find((a) => a.id === 'bad')!;
      expect(bad.status, name).toBe('invalid');
      expect(bad.errors.length, name).toBeGreaterThan(0);
      expect(await listTree(report.outDir), name).toEqual(['good', 'good/good.container']);
    }
  });

  it('removes files of ours that are no longer rendered, and never touches files it did not write', async () => {
    await addApp('web', GOOD('web'));
    await addApp('gone', GOOD('gone', 7070));
    const first = await renderUnits(fx.req);
    const foreign = '[Container]\nImage=docker.io/library/nginx:1.27\n';
    await writeFile(join(first.outDir, 'web/mine.container'), foreign);
    await writeFile(join(first.outDir, 'gone/theirs.container'), foreign);
    await rm(join(fx.root, 'apps/gone'), { recursive: true });
    const second = await renderUnits(fx.req);
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
    const dir = join(fx.req.outDir, 'web');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'web.container'), '# hand-made\n[Container]\nImage=docker.io/library/nginx:1.27\n');
    const report = await renderUnits(fx.req);
    expect(report.apps[0]!.status).toBe('conflict');
    expect(await readFile(join(dir, 'web.container'), 'utf8')).toContain('# hand-made');
  });

  it('restores a unit edited by hand (its header hash no longer matches)', async () => {
    await addApp('web', GOOD('web'));
    const first = await renderUnits(fx.req);
    const file = join(first.outDir, 'web/web.container');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace('PublishPort=8080:8080', 'PublishPort=9999:8080'));
    expect(parseOwnedHeader(await readFile(file, 'utf8'))!.intact).toBe(false);
    const second = await renderUnits(fx.req);
    expect(second.apps[0]!.changes.map((c) => c.action)).toEqual(['update']);
    expect(await readFile(file, 'utf8')).toBe(good);
  });

  it('reports an app id that is not in the catalog, or not an id at all, without rendering the rest', async () => {
    await addApp('web', GOOD('web'));
    const report = await renderUnits({ ...fx.req, appIds: ['nope', '../etc'] });
    expect(report.apps.map((a) => [a.id, a.status, a.errors[0]?.message])).toEqual([
      ['../etc', 'invalid', '"../etc" is not an app id (a DNS label)'],
      ['nope', 'invalid', 'no app "nope" in the catalog'],
    ]);
    expect(existsSync(report.outDir)).toBe(false);
  });
});
