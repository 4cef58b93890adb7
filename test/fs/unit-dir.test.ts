import { beforeEach, describe, expect, it, vi } from 'vitest';

// An in-memory directory whose files can vanish between readdir and the read of each file,
// as they do when an uninstall runs beside a `status`.
const fsState = vi.hoisted(() => ({ listed: [] as string[], present: new Map<string, string>() }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const enoent = (path: string) =>
    Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
  const eacces = (path: string) =>
    Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES' });
  const name = (path: string) => path.slice(path.lastIndexOf('/') + 1);
  const content = (path: string) => {
    const text = fsState.present.get(name(path));
    if (text === undefined) throw enoent(path);
    if (text === '<EACCES>') throw eacces(path);
    return text;
  };
  return {
    ...real,
    readdir: async () => fsState.listed.map((n) => ({ name: n, isFile: () => true, isDirectory: () => false })),
    readFile: async (path: string) => content(path),
    stat: async (path: string) => (content(path), { mtimeMs: 1 }),
  };
});

const { readUnitDir } = await import('../../src/fs/unit-dir.js');

describe('readUnitDir', () => {
  beforeEach(() => {
    fsState.listed = [];
    fsState.present.clear();
  });

  it('leaves out a file removed after the directory was listed, and reads the rest', async () => {
    fsState.listed = ['web.container', 'gone.container', 'web.network'];
    fsState.present.set('web.container', '[Container]\nImage=x\n');
    fsState.present.set('web.network', '[Network]\n');
    const files = await readUnitDir('/units/web');
    expect(files.map((f) => f.name)).toEqual(['web.container', 'web.network']);
    expect(files[0]!.content).toBe('[Container]\nImage=x\n');
  });

  it('still reports any other error reading a file', async () => {
    fsState.listed = ['web.container'];
    fsState.present.set('web.container', '<EACCES>');
    await expect(readUnitDir('/units/web')).rejects.toThrow(/EACCES/);
  });
});
