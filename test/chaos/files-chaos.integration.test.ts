import { describe, expect } from 'vitest';
import { cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree, waitFor } from '../support/lab-user.js';
import { containerId, http, useLabNode, waitHttp } from '../support/node.js';
import { chaosIt } from './chaos.js';

// Chaos in the files: unit files deleted and edited, a manifest broken, the state file
// corrupted, the disk full under the unit directory.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

const webUnit = () => join(node().unitRoot, 'web/web.container');

describe.runIf(enabled)('chaos: files', () => {
  chaosIt(3, 'a unit file of ours deleted, then edited by hand', 15_000, async (run) => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    const good = readFileSync(webUnit(), 'utf8');
    rmSync(webUnit());
    run.broke();
    await node().aq(['reconcile']);
    expect(readFileSync(webUnit(), 'utf8')).toBe(good);
    expect(await waitHttp(18081)).toBe('ok\n');
    run.recovered();
    await asUser(['sed', '-i', 's/^PublishPort=.*/PublishPort=127.0.0.1:18999:8080/', webUnit()]);
    run.broke();
    const r = await node().aq(['reconcile', '--dry-run', '--json']);
    expect(JSON.parse(r.stdout).plan[0]).toMatchObject({
      kind: 'writeUnit',
      path: 'web/web.container',
      reason: 'unit file edited by hand',
    });
    await node().aq(['reconcile']);
    expect(readFileSync(webUnit(), 'utf8')).toBe(good);
    expect(await waitHttp(18081)).toBe('ok\n');
    run.recovered();
  });

  chaosIt(4, 'one manifest corrupted (YAML garbage, then a schema violation)', 15_000, async (run) => {
    // Steady state: web and data running. Only web's manifest breaks.
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    await node().aq(['install', 'data', '--wait', '--timeout', '60']);
    const manifest = join(node().appsDir, 'web/manifest.yml');
    const original = readFileSync(manifest, 'utf8');
    const goodUnit = readFileSync(webUnit(), 'utf8');
    const webId = await containerId('web');
    const breaks: Array<[string, RegExp]> = [
      ['schemaVersion: 1\nid: web\ncontainers: [ {name: web, image: \n  - : :\n', /manifest\.yml:\d+:\d+: .*/],
      [
        original.replace('hostPort: 18081', 'hostPort: "eighteen"'),
        /manifest\.yml:\d+:\d+: containers\[0\]\.ports\[0\]\.hostPort: /,
      ],
    ];
    for (const [text, error] of breaks) {
      writeFileSync(manifest, text);
      rmSync(join(node().unitRoot, 'data/data.container')); // the others are still reconciled
      run.broke();
      const r = await node().aq(['reconcile'], { reject: false });
      expect(r.exitCode, 'a pass that had to hold an app says so').toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^web: .*${error.source}`, 'm'));
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(existsSync(join(node().unitRoot, 'data/data.container')), 'the other app was not reconciled').toBe(true);
      expect(readFileSync(webUnit(), 'utf8'), 'its last good units are kept').toBe(goodUnit);
      expect(await containerId('web')).toBe(webId);
      expect(await http(18081)).toBe('ok\n');
      const status = await node().status('web');
      expect(status).toMatchObject({ state: 'running' });
      expect(JSON.stringify(status)).toMatch(/manifest\.yml:\d+:\d+/);
      run.recovered();
    }
    writeFileSync(manifest, original);
    const fixed = await node().aq(['reconcile']);
    expect(fixed.stderr).not.toMatch(/^web: /m);
    expect(await containerId('web')).toBe(webId); // same units: nothing restarted
  });

  chaosIt(5, 'the state file corrupted', 15_000, async (run) => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    await node().aq(['install', 'data', '--wait', '--timeout', '60']);
    const file = join(node().stateDir, 'state.json');
    const good = readFileSync(file, 'utf8');
    const garbage = `${good.slice(0, 40)}\u0000\u0000 garbage`;
    writeFileSync(file, garbage);
    run.broke();
    const webId = await containerId('web');
    for (const args of [['reconcile'], ['status'], ['stop', 'web'], ['install', 'companion']]) {
      const r = await node().aq(args, { reject: false });
      expect(r.exitCode, args.join(' ')).toBe(3);
      expect(r.stderr).toContain('is unreadable');
      expect(r.stderr).toContain(`cp ${file}.bak ${file}`);
      expect(r.stderr).not.toMatch(/^\s+at /m);
    }
    expect(readFileSync(file, 'utf8'), 'nothing lost: the damaged file is left for inspection').toBe(garbage);
    expect(await containerId('web')).toBe(webId);
    expect(await http(18081)).toBe('ok\n');
    // The way out it gave: the copy is the state as last written, both apps in it.
    await asUser(['cp', `${file}.bak`, file]);
    await node().aq(['reconcile']);
    expect((await node().status('web'))?.state).toBe('running');
    expect((await node().status('data'))?.state).toBe('running');
    run.recovered();
  });

  chaosIt(9, 'disk full while writing units', 30_000, async (run) => {
    await node().aq(['install', 'web', '--wait', '--timeout', '60']);
    const root = node().unitRoot;
    const saved = `/tmp/aq-units-saved-${process.pid}`;
    cpSync(root, saved, { recursive: true });
    await execa('mount', [
      '-t',
      'tmpfs',
      '-o',
      `size=64k,mode=0755,uid=${node().user.uid},gid=${node().user.gid}`,
      'archy-chaos',
      root,
    ]);
    const manifest = join(node().appsDir, 'web/manifest.yml');
    const original = readFileSync(manifest, 'utf8');
    try {
      cpSync(saved, root, { recursive: true });
      chownTree(root, node().user);
      const good = readFileSync(webUnit(), 'utf8');
      await execa('dd', ['if=/dev/zero', `of=${root}/.filler`, 'bs=4k'], { reject: false });
      writeFileSync(manifest, original.replace('hostPort: 18081', 'hostPort: 18091'));
      run.broke();
      const r = await node().aq(['reconcile'], { reject: false });
      expect(r.exitCode).toBe(3);
      expect(r.stderr).toMatch(/no space left on device/i);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(readFileSync(webUnit(), 'utf8'), 'the old unit is intact').toBe(good);
      expect(
        readdirSync(join(root, 'web')).filter((f) => f.startsWith('.')),
        'no temp file left',
      ).toEqual([]);
      expect(await http(18081)).toBe('ok\n');
      rmSync(`${root}/.filler`);
      await node().aq(['reconcile']);
      expect(readFileSync(webUnit(), 'utf8')).toContain('18091');
      await waitFor(
        'web on its new port',
        async () => ((await http(18091)) === 'ok\n' ? true : undefined),
        60_000,
        500,
      );
      run.recovered();
    } finally {
      writeFileSync(manifest, original);
      await execa('umount', [root], { reject: false });
      rmSync(saved, { recursive: true, force: true });
      await node().aq(['reconcile'], { reject: false });
    }
  });
});
