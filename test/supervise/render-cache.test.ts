import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDesired } from '../../src/supervise/load-desired.js';
import { readState } from '../../src/supervise/state-store.js';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { fakeNode, TEST_FACTS, type FakeNode } from './fake-adapters.js';

// The render cache: a pass over unchanged manifests parses no YAML; anything that changes
// the rendering misses; a damaged cache is rebuilt.

let node: FakeNode;
afterEach(() => node?.cleanup());

function counting() {
  let loads = 0;
  return {
    get loads() {
      return loads;
    },
    validator: async () => {
      loads++;
      return createManifestValidator();
    },
  };
}

describe('the render cache', () => {
  it('hits for unchanged manifests, misses for a changed one or another build, and survives damage', async () => {
    node = fakeNode();
    node.install('web');
    node.install('stack');
    const state = await readState(node.paths.stateDir);
    const v = counting();
    const load = (build = 'b1') =>
      loadDesired(node.paths, state, { writeCache: true, validator: v.validator, build, facts: TEST_FACTS });
    const first = await load();
    expect(v.loads).toBe(1);
    const second = await load();
    expect(v.loads).toBe(1); // no YAML, no schema
    expect(second).toEqual(first);

    const manifest = join(node.paths.appsDir, 'web/manifest.yml');
    writeFileSync(manifest, readFileSync(manifest, 'utf8').replace('hostPort: 18081', 'hostPort: 18083'));
    const third = await load();
    expect(v.loads).toBe(2);
    expect(third.apps.find((a) => a.id === 'web')!.rendered!.containers[0]!.hostPorts[0]!.hostPort).toBe(18083);

    await load('b2'); // another build of the renderer
    expect(v.loads).toBe(3);

    writeFileSync(join(node.paths.stateDir, 'render-cache.json'), '{ not json');
    const rebuilt = await load('b2');
    expect(v.loads).toBe(4);
    expect(rebuilt).toEqual(await load('b2'));
    expect(v.loads).toBe(4);
  });

  it('is not written by a reader that must not write (the boot hook)', async () => {
    node = fakeNode();
    node.install('web');
    const state = await readState(node.paths.stateDir);
    await loadDesired(node.paths, state, {
      writeCache: false,
      facts: TEST_FACTS,
      validator: async () => createManifestValidator(),
      build: 'b1',
    });
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(node.paths.stateDir, 'render-cache.json'))).toBe(false);
  });
});
