import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDesired } from '../../src/supervise/load-desired.js';
import { readState } from '../../src/supervise/state-store.js';
import { filesHash } from '../../src/supervise/plan-update.js';
import { recordSecretId } from '../../src/supervise/secret-ids.js';
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

  it('keeps what an app rendered to before an edit while it has no last good set, through readers, not for a link', async () => {
    node = fakeNode();
    node.install('rpc-core');
    node.install('rpc-client');
    const v = counting();
    const load = async () =>
      loadDesired(node.paths, await readState(node.paths.stateDir), {
        writeCache: true,
        validator: v.validator,
        build: 'b1',
        facts: TEST_FACTS,
      });
    const hashOf = (r: { files: Array<{ name: string; content: string }> }) => filesHash(r.files);
    const appOf = async () => (await load()).apps.find((a) => a.id === 'rpc-client')!;
    const installed = await appOf();
    expect(installed.earlierRenderings).toBeUndefined();
    // Only its links change (its provider's secret created: its id is part of them): nothing earlier is kept.
    const secret = /Secret="?([^,\s"]+)/.exec(installed.rendered!.files.map((f) => f.content).join('\n'))![1]!;
    await recordSecretId(node.paths.stateDir, secret, '0123456789abcdef01234567');
    const linked = await appOf();
    expect(hashOf(linked.rendered!)).not.toBe(hashOf(installed.rendered!));
    expect(linked.earlierRenderings).toBeUndefined();
    // Its manifest edited: the rendering before is kept, by a reader (status) as by a pass.
    const manifest = join(node.paths.appsDir, 'rpc-client/manifest.yml');
    const text = readFileSync(manifest, 'utf8');
    writeFileSync(manifest, text.replace('hostPort: 18093', 'hostPort: 18094'));
    const reader = await appOf();
    expect(reader.earlierRenderings?.map(hashOf)).toEqual([hashOf(linked.rendered!)]);
    expect((await appOf()).earlierRenderings?.map(hashOf)).toEqual([hashOf(linked.rendered!)]);
    // Edited again before a pass wrote the first edit: both are kept, newest first.
    writeFileSync(manifest, text.replace('hostPort: 18093', 'hostPort: 18095'));
    const twice = await appOf();
    expect(twice.earlierRenderings?.map(hashOf)).toEqual([hashOf(reader.rendered!), hashOf(linked.rendered!)]);
    // An edit that changes no file (a comment) adds nothing, and keeps what was kept.
    writeFileSync(manifest, `${readFileSync(manifest, 'utf8')}# a comment\n`);
    expect((await appOf()).earlierRenderings?.map(hashOf)).toEqual([
      hashOf(reader.rendered!),
      hashOf(linked.rendered!),
    ]);
    // Once it has a last good set, there is nothing to keep.
    const state = await readState(node.paths.stateDir);
    state.apps['rpc-client']!.lastGood = { hash: hashOf(twice.rendered!), recordedAt: '2026-01-01T00:00:00.000Z' };
    writeFileSync(join(node.paths.stateDir, 'state.json'), JSON.stringify(state));
    expect((await appOf()).earlierRenderings).toBeUndefined();
  });

  it('keeps nothing earlier when only the intent changed (a stop, a start): no release came', async () => {
    node = fakeNode();
    node.install('web', 'stopped');
    const load = async () =>
      (
        await loadDesired(node.paths, await readState(node.paths.stateDir), {
          writeCache: true,
          validator: async () => createManifestValidator(),
          build: 'b1',
          facts: TEST_FACTS,
        })
      ).apps[0]!;
    const stopped = await load();
    node.install('web', 'running');
    const started = await load();
    expect(filesHash(started.rendered!.files)).not.toBe(filesHash(stopped.rendered!.files));
    expect(started.earlierRenderings).toBeUndefined();
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
