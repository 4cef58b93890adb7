import { afterEach, beforeEach } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RenderRequest } from '../../src/output/render-units.js';
import { resolvePaths } from '../../src/paths.js';

// The render pipeline's tests: a temporary catalog, config home and --out directory, made
// fresh for each test.

export const GOOD = (id: string, port = 8080) => `schemaVersion: 1
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

export interface RenderFixture {
  root: string;
  req: RenderRequest;
  addApp(id: string, text: string): Promise<void>;
}

export async function listTree(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

/** Registers beforeEach/afterEach; the returned object is filled in before each test. */
export function useRenderFixture(): RenderFixture {
  const f = {} as RenderFixture;
  beforeEach(async () => {
    f.root = await mkdtemp(join(tmpdir(), 'aq-render-'));
    await mkdir(join(f.root, 'apps'));
    const paths = resolvePaths({
      env: { XDG_CONFIG_HOME: join(f.root, 'config') },
      home: f.root,
      bundledAppsDir: join(f.root, 'apps'),
    });
    f.req = {
      paths,
      appIds: [],
      outDir: join(f.root, 'out'),
      dryRun: false,
      startAtBoot: () => true,
      quadletBin: undefined,
      facts: {
        hostname: 'archy',
        mdnsName: 'archy.local',
        lanAddress: '192.168.1.20',
        networkSubnet: '10.89.254.0/24',
      },
    };
    f.addApp = async (id, text) => {
      await mkdir(join(f.root, 'apps', id), { recursive: true });
      await writeFile(join(f.root, 'apps', id, 'manifest.yml'), text);
    };
  });
  afterEach(async () => {
    await rm(f.root, { recursive: true, force: true });
  });
  return f;
}
