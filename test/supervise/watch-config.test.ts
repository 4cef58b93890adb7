import { afterEach, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { watchAndReconcile } from '../../src/supervise/watch.js';
import { fakeNode, type FakeNode } from './fake-adapters.js';

// The watcher reads the node configuration once, when it starts: a change of a configuration
// file ends it ('config-changed': its service starts it again with the new catalog), where a
// change of a manifest only runs a pass.

let node: FakeNode | undefined;
afterEach(() => node?.cleanup());

describe('watch and the node configuration', () => {
  it('ends when a configuration file changes; a manifest change only runs a pass', async () => {
    node = fakeNode();
    const config = join(node.paths.appsDir, '..', 'config.yml');
    writeFileSync(config, 'dataRoot: /srv/data\n');
    const passes: string[] = [];
    const controller = new AbortController();
    const ended = watchAndReconcile(node.sv, {
      intervalMs: 3_600_000,
      debounceMs: 50,
      signal: controller.signal,
      configFiles: [config],
      onPass: (trigger) => passes.push(trigger),
    });
    const until = async (what: () => boolean) => {
      for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 25));
      expect(what()).toBe(true);
    };
    await until(() => passes.includes('start'));
    writeFileSync(join(node.paths.appsDir, 'web', 'manifest.yml.note'), 'x');
    await until(() => passes.some((p) => p.startsWith('change:')));
    let result: string | undefined;
    void ended.then((r) => {
      result = r;
    });
    writeFileSync(config, 'dataRoot: /srv/other\n');
    await until(() => result !== undefined);
    expect(result).toBe('config-changed');
    controller.abort();
  }, 20_000);
});
