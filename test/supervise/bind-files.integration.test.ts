import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { requireLab } from '../support/lab.js';
import { asUser, waitFor } from '../support/lab-user.js';
import { http, waitHttp, useLabNode } from '../support/node.js';

// A single-file bind (test/lab-apps/filebind) against the lab's real systemd user manager and
// rootless Podman: while the file is missing the app is held, the pass says which path, and
// nothing is made there (least of all a directory); once the user puts the file there, the
// next pass starts the app and the container reads exactly that file.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);

const PORT = 18094;
const CONTENT = 'filebind-ok: a single file\n';

describe.runIf(enabled)('a single-file bind in the lab', () => {
  // The app's data directory (relative bind sources live there); kept by the node's reset, so cleared here.
  const dataDir = () => join(node().user.home, '.local/share/archy-quadlet/data/filebind');
  const file = () => join(dataDir(), 'site/index.html');
  const reason = () => `bind source ${file()} is missing (a file: archy-quadlet never creates it): put it there`;
  const clear = () => asUser(['rm', '-rf', dataDir()]);

  beforeAll(clear);
  afterAll(async () => {
    if (enabled) await clear();
  });

  it('missing: install says which file, reconcile exits 1 naming it, nothing is made at the path', async () => {
    const install = await node().aq(['install', 'filebind']);
    expect(install.stdout).toMatch(/^filebind: install recorded; \d+ step\(s\) issued; now /m);
    expect(install.stdout).toContain(`in progress: ${reason()}`);

    const r = await node().aq(['reconcile'], { reject: false });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toContain(`filebind: ${reason()}`);
    expect(r.stdout).toContain(`in progress: filebind: ${reason()}`);

    const json = await node().aq(['reconcile', '--json'], { reject: false });
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).errors).toEqual([{ app: 'filebind', message: reason() }]);

    // Not made: neither the file nor a directory in its place.
    const there = await asUser(['sh', '-c', `test -e '${file()}' || test -L '${file()}'`], { reject: false });
    expect(there.exitCode).not.toBe(0);
    const s = await node().status('filebind');
    expect(s).toMatchObject({ desired: 'running', converged: false });
    expect(s!.state).not.toBe('running');
    expect(s!.units.find((u) => u.unit === 'filebind.service')?.activeState).not.toBe('active');
    expect(await http(PORT)).toBeUndefined();
  }, 120_000);

  it('put there: the next pass starts the app, which serves exactly that file', async () => {
    // As the user would: the directory is theirs to make too (nothing of the app has started yet).
    await asUser(['sh', '-c', `mkdir -p "$(dirname "$1")" && printf '%s' "$2" > "$1"`, 'sh', file(), CONTENT]);
    const r = await node().aq(['reconcile']);
    expect(r.exitCode).toBe(0);
    expect(r.stderr).not.toContain(reason());
    expect(await waitHttp(PORT, '/', 60_000)).toBe(CONTENT);
    await waitFor(
      'filebind to be running',
      async () => ((await node().status('filebind'))?.state === 'running' ? true : undefined),
      60_000,
      300,
    );
    // Still the user's file, not replaced by anything archy-quadlet made.
    const kind = await asUser(['stat', '-c', '%F', file()]);
    expect(String(kind.stdout).trim()).toBe('regular file');
    const again = await node().aq(['reconcile']);
    expect(again.exitCode).toBe(0);
  }, 150_000);
});
