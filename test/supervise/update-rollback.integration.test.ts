import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { AS_USER, requireLab } from '../support/lab.js';
import { asUser, chownTree, waitFor } from '../support/lab-user.js';
import { http, reboot, useLabNode, waitHttp } from '../support/node.js';
import { gateIterations } from '../lifecycle/results.js';

// Updates that cannot strand an app (issue 13), in the lab: the upd app runs images built here
// from busybox. A release that never gets healthy (:bad), or whose container exits at once
// (:crash), is rolled back to the last good set within the bound, its data as it was, and is
// not tried again until the manifest changes or `update --retry`; a good one (:v2) becomes
// the last good set. A kill -9 of the passes or a reboot at a random point of an update ends
// in the new version healthy or the old one back: never half.

const enabled = requireLab('user-manager');
const node = useLabNode(enabled);
const ITERATIONS = gateIterations(process.env.ARCHY_ITERATIONS);
const PORT = 18088;

const IMAGES: Record<string, string> = {
  good: 'RUN echo good > /www/index.html',
  // Rewrites the data (as a migration would), then serves nothing: its health check fails.
  bad: 'RUN rm -rf /www && mkdir /www\nENTRYPOINT ["sh", "-c", "echo migrated > /data/mark; exec \\"$@\\"", "--"]',
  crash: 'ENTRYPOINT ["/bin/false"]',
  v2: 'RUN echo v2 > /www/index.html',
  v3: 'RUN echo v3 > /www/index.html',
};

async function buildImages(): Promise<void> {
  const script = Object.entries(IMAGES)
    .map(
      ([tag, line]) =>
        `d=$(mktemp -d); printf 'FROM localhost/busybox:latest\\n%s\\n' '${line}' > $d/Containerfile; ` +
        `podman build -q -t localhost/aq-upd:${tag} $d >/dev/null; rm -rf $d`,
    )
    .join('\n');
  await asUser(['bash', '-c', `set -e\n${script}`], { timeout: 120_000 });
}

/** The manifest in the lab catalog names another image and version: what a node receives as an update. */
function setRelease(tag: string, version: string): void {
  const path = join(node().appsDir, 'upd', 'manifest.yml');
  const text = readFileSync(path, 'utf8')
    .replace(/^ {4}image: .*$/m, `    image: localhost/aq-upd:${tag}`)
    .replace(/^version: .*$/m, `version: "${version}"`);
  writeFileSync(path, text);
  chownTree(path, node().user);
}

async function stateOf(app = 'upd'): Promise<Record<string, unknown> | undefined> {
  const r = await asUser(['cat', join(node().stateDir, 'state.json')], { reject: false });
  return r.exitCode === 0 ? (JSON.parse(String(r.stdout)).apps[app] as Record<string, unknown>) : undefined;
}

async function runningImage(): Promise<string> {
  return String((await asUser(['podman', 'inspect', '--format', '{{.ImageName}}', 'upd'])).stdout).trim();
}

/** Where the chaos test's background passes log (as the lab user). */
const LOOP_LOG = '/tmp/aq-update-loop.log';

/**
 * A failed chaos round, told: every step the passes applied to upd (the background loop's and
 * the test's own), and what Podman saw of the container (starts, deaths, health) since it began.
 */
async function roundTrace(since: string, passes: string[]): Promise<string> {
  const loop = await asUser(['cat', LOOP_LOG], { reject: false });
  const steps = [String(loop.stdout), ...passes]
    .join('\n')
    .split('\n')
    .flatMap((line) => {
      try {
        const j = JSON.parse(line) as { time?: number; app?: string; step?: string; reason?: string; error?: string };
        if (!j.step || (j.app !== undefined && j.app !== 'upd')) return [];
        const at = j.time ? new Date(j.time).toISOString().slice(11, 23) : '';
        return [`${at} ${j.step}: ${j.reason ?? ''}${j.error ? ` (${j.error})` : ''}`];
      } catch {
        return [];
      }
    });
  const events = await asUser(
    [
      'podman',
      'events',
      '--stream=false',
      '--since',
      since,
      '--filter',
      'container=upd',
      '--format',
      '{{.Time}} {{.Status}} {{.Image}} {{.HealthStatus}}',
    ],
    { reject: false, timeout: 30_000 },
  );
  const podman = String(events.stdout)
    .trim()
    .split('\n')
    .map((l) => l.replace(/^\S+ (\S+)\.\d+ \S+ \S+/, '$1'));
  return `; steps: ${steps.join(' | ')}; podman events: ${podman.join(' | ')}`;
}

/** Passes (the timer's job) until upd has a last good set of this version's files; its hash. */
async function lastGood(): Promise<string> {
  return lastGoodOf('upd');
}

async function lastGoodOf(app: string): Promise<string> {
  return waitFor(
    'the last good set to be recorded',
    async () => {
      await node().aq(['reconcile'], { reject: false });
      const s = await stateOf(app);
      return s && !s.update && s.lastGood ? (s.lastGood as { hash: string }).hash : undefined;
    },
    60_000,
    1000,
  );
}

describe.runIf(enabled)('updates: health-gated switch, automatic rollback', () => {
  it('a bad release and one that exits at once are rolled back with their data; a good one becomes the last good set', async () => {
    await buildImages();
    setRelease('good', '1.0.0');
    await node().aq(['install', 'upd', '--wait', '--timeout', '60']);
    expect(await waitHttp(PORT)).toBe('good\n');
    await asUser(['podman', 'exec', 'upd', 'sh', '-c', 'echo kept > /data/mark']);
    const good = await lastGood();
    const mode = await asUser(['stat', '-c', '%a', join(node().stateDir, 'last-good', 'upd.json')]);
    expect(String(mode.stdout).trim()).toBe('600');

    // What an update would change, without doing it.
    setRelease('bad', '2.0.0');
    const check = await node().aq(['update', 'upd', '--check']);
    expect(check.stdout).toMatch(/^upd: would be updated \(1\.0\.0 → 2\.0\.0\)/m);
    expect(check.stdout).toContain('image upd: localhost/aq-upd:good → localhost/aq-upd:bad');
    expect(check.stdout).toContain('+Image=localhost/aq-upd:bad');
    expect(await runningImage()).toBe('localhost/aq-upd:good');

    // :bad never passes its health check: rolled back within its start timeout and the grace.
    const t0 = Date.now();
    const bad = await node().aq(['update', 'upd', '--wait', '--timeout', '200'], { reject: false, timeout: 220_000 });
    expect(bad.exitCode, bad.stderr).toBe(3);
    expect(Date.now() - t0).toBeLessThan(200_000);
    expect(bad.stdout).toMatch(/^upd: rolled-back$/m);
    expect(bad.stdout).toMatch(/update to 2\.0\.0 rolled back \(begun .*\): upd\.service /);
    expect(bad.stderr).toMatch(/"step":"updateRollBack"/);
    expect(await waitHttp(PORT)).toBe('good\n');
    expect(await runningImage()).toBe('localhost/aq-upd:good');
    // The data as it was before the update: the snapshot taken after the old container
    // stopped was put back (the bad version had rewritten it).
    expect(String((await asUser(['podman', 'exec', 'upd', 'cat', '/data/mark'])).stdout)).toBe('kept');
    expect(bad.stderr).toMatch(/"step":"snapshotVolumes"/);
    expect(bad.stderr).toMatch(/"step":"restoreVolumes"/);
    const snap = await asUser(['stat', '-c', '%a %s', join(node().stateDir, 'snapshots', 'upd', 'upd-store.tar')]);
    expect(String(snap.stdout)).toMatch(/^600 [1-9]\d*$/);
    expect((await node().aq(['doctor'], { reject: false })).stdout).toMatch(
      /update snapshots.*kept from the last update of upd/,
    );
    const v = (await node().status('upd')) as unknown as {
      state: string;
      converged: boolean;
      update: { phase: string; reason: string };
    };
    expect(v).toMatchObject({ state: 'rolled-back', converged: true, update: { phase: 'rolledBack' } });
    expect((await node().aq(['explain', 'upd'])).stdout).toMatch(/update to 2\.0\.0 rolled back/);
    expect(((await stateOf())!.lastGood as { hash: string }).hash).toBe(good);

    // The same manifest is not tried again by the passes that follow.
    const again = await node().aq(['reconcile']);
    expect(again.stderr).not.toMatch(/"step":"(beginUpdate|writeUnit|restart)"/);
    expect(await runningImage()).toBe('localhost/aq-upd:good');
    expect((await node().aq(['update', 'upd', '--check'])).stdout).toMatch(
      /^upd: update \(1\.0\.0 → 2\.0\.0\) was rolled back/m,
    );

    // --retry tries it again, through the same gate.
    const retry = await node().aq(['update', 'upd', '--retry', '--wait', '--timeout', '200'], {
      reject: false,
      timeout: 220_000,
    });
    expect(retry.exitCode, `${retry.stdout}\n${retry.stderr}`).toBe(3);
    expect(retry.stderr).toMatch(/"step":"beginUpdate"/);
    expect(retry.stdout).toMatch(/^upd: rolled-back$/m);

    // A container that exits at once: caught, rolled back.
    setRelease('crash', '3.0.0');
    const crash = await node().aq(['update', 'upd', '--wait', '--timeout', '200'], { reject: false, timeout: 220_000 });
    expect(crash.exitCode, `${crash.stdout}\n${crash.stderr}`).toBe(3);
    expect(crash.stdout).toMatch(/update to 3\.0\.0 rolled back/);
    expect(await waitHttp(PORT)).toBe('good\n');

    // A good release: switched, healthy, the new last good set.
    setRelease('v2', '4.0.0');
    const ok = await node().aq(['update', 'upd', '--wait', '--timeout', '200'], { timeout: 220_000 });
    expect(ok.stdout).toMatch(/^upd: running$/m);
    expect(await waitHttp(PORT)).toBe('v2\n');
    expect(await runningImage()).toBe('localhost/aq-upd:v2');
    const s = (await stateOf())!;
    expect(s.update).toBeUndefined();
    expect((s.lastGood as { hash: string }).hash).not.toBe(good);
    expect(String((await asUser(['podman', 'exec', 'upd', 'cat', '/data/mark'])).stdout)).toBe('kept');
  }, 600_000);

  it("a changed file in a companion's build context is built while it runs, then switched to: no version bump", async () => {
    await node().aq(['install', 'companion', '--wait', '--timeout', '120']);
    expect(await waitHttp(18083)).toBe('companion-ok\n');
    const imageOf = async () =>
      String((await asUser(['podman', 'inspect', '--format', '{{.ImageName}}', 'companion'])).stdout).trim();
    const before = await imageOf();
    expect(before).toMatch(/^localhost\/archy\/companion:1\.0\.0-[0-9a-f]{12}$/);
    await lastGoodOf('companion');

    const page = join(node().appsDir, 'companion', 'site', 'index.html');
    writeFileSync(page, 'companion-fixed\n');
    chownTree(page, node().user);
    const first = await node().aq(['reconcile']);
    // Built in a transient unit while the old container serves; its units wait for it.
    expect(first.stderr).toMatch(
      /"step":"buildImage","reason":"new image localhost\/archy\/companion:1\.0\.0-[0-9a-f]{12} built before the switch/,
    );
    expect(first.stderr).not.toMatch(/"step":"writeUnit"/);
    expect(await http(18083)).toBe('companion-ok\n');
    const done = await node().aq(['update', 'companion', '--wait', '--timeout', '240']);
    expect(done.stdout).toMatch(/^companion: running$/m);
    expect(await waitHttp(18083)).toBe('companion-fixed\n');
    const after = await imageOf();
    expect(after).toMatch(/^localhost\/archy\/companion:1\.0\.0-[0-9a-f]{12}$/);
    expect(after).not.toBe(before);
    // The build it ran before is no version to go back to any more: it goes; the one it runs stays.
    await lastGoodOf('companion');
    const pruned = await node().aq(['reconcile']);
    const images = await asUser([
      'podman',
      'images',
      '--filter',
      'label=io.archipelago.app=companion',
      '--format',
      'json',
    ]);
    const tags = (JSON.parse(String(images.stdout)) as Array<{ Names?: string[] }>).flatMap((i) => i.Names ?? []);
    expect(tags, pruned.stderr).toEqual([after]);
    await node().aq(['uninstall', 'companion', '--wait', '--timeout', '60']);
  }, 400_000);

  it('a companion rolled back from a broken build context runs its last good build after a reboot, not the folder as it is', async () => {
    const containerfile = join(node().appsDir, 'companion', 'Containerfile');
    const original = readFileSync(containerfile, 'utf8');
    // The page as the catalog ships it, whatever a test before this one left there.
    const page = join(node().appsDir, 'companion', 'site', 'index.html');
    writeFileSync(page, 'companion-ok\n');
    chownTree(page, node().user);
    const running = async () =>
      String((await asUser(['podman', 'inspect', '--format', '{{.ImageName}} {{.Image}}', 'companion'])).stdout).trim();
    await node().aq(['install', 'companion', '--wait', '--timeout', '120']);
    expect(await waitHttp(18083)).toBe('companion-ok\n');
    const before = await running();
    await lastGoodOf('companion');
    try {
      // A release whose container exits at once: built, switched to, rolled back.
      writeFileSync(containerfile, `${original}CMD ["sh", "-c", "exit 1"]\n`);
      chownTree(containerfile, node().user);
      const r = await node().aq(['update', 'companion', '--wait', '--timeout', '300'], {
        reject: false,
        timeout: 320_000,
      });
      expect(r.exitCode, r.stdout + r.stderr).toBe(3);
      expect(r.stdout).toMatch(/^companion: rolled-back$/m);
      expect(await waitHttp(18083)).toBe('companion-ok\n');
      expect(await running()).toBe(before);
      // The broken Containerfile is still in the app's folder when the node boots: the last
      // good set's build unit must not build it under the last good tag.
      await reboot();
      expect(await waitHttp(18083, '/', 120_000)).toBe('companion-ok\n');
      expect(await running()).toBe(before);
      const build = await asUser(['systemctl', '--user', 'show', '-p', 'Result', 'companion-build.service']);
      expect(String(build.stdout).trim()).toBe('Result=exec-condition'); // skipped: the image is there
      expect(await node().status('companion')).toMatchObject({ state: 'rolled-back', converged: true });
    } finally {
      await node().aq(['uninstall', 'companion', '--wait', '--timeout', '60'], { reject: false });
      writeFileSync(containerfile, original);
    }
  }, 600_000);

  it('a container started between the write of its new unit file and the reload that loads it is restarted onto the new version', async () => {
    if ((await http(PORT)) === undefined) {
      // Run alone: the app as the first test leaves it.
      await buildImages();
      setRelease('v2', '4.0.0');
      await node().aq(['install', 'upd', '--wait', '--timeout', '60']);
      await asUser(['podman', 'exec', 'upd', 'sh', '-c', 'echo kept > /data/mark']);
    }
    await lastGood();
    const from = String(await waitHttp(PORT)).trim();
    const tag = from === 'v2' ? 'v3' : 'v2';
    // The race, made certain: a systemctl that starts upd on the definition systemd still has
    // just before the pass's daemon-reload (as a crash restart or the start at boot can).
    const dir = '/tmp/aq-reload-race';
    const wrapper = [
      '#!/bin/sh',
      `if [ "$2" = daemon-reload ] && [ ! -e ${dir}/done ]; then`,
      `  touch ${dir}/done`,
      '  /usr/bin/systemctl --user restart upd.service',
      'fi',
      'exec /usr/bin/systemctl "$@"',
    ].join('\n');
    await asUser([
      'bash',
      '-c',
      `set -e; rm -rf ${dir}; mkdir -p ${dir}; printf '%s\\n' '${wrapper}' > ${dir}/systemctl; chmod +x ${dir}/systemctl`,
    ]);
    setRelease(tag, '8.0.0');
    // Passes with it until the update's files are written (after the snapshot, a pass or two on).
    await waitFor(
      'the pass to write the new files and reload',
      async () => {
        await asUser(['bash', '-c', `PATH=${dir}:$PATH ARCHY_QUADLET_APPS=${node().appsDir} archy-quadlet reconcile`], {
          timeout: 120_000,
        });
        return (await asUser(['test', '-e', `${dir}/done`], { reject: false })).exitCode === 0 ? true : undefined;
      },
      60_000,
      500,
    );
    let last: unknown;
    const end = await waitFor(
      'the update to end',
      async () => {
        await node().aq(['reconcile'], { reject: false });
        const v = (await node().status('upd')) as unknown as { state: string; converged: boolean } | undefined;
        last = v;
        return v?.converged && (v.state === 'running' || v.state === 'rolled-back') ? v.state : undefined;
      },
      120_000,
      1000,
    );
    const seen = `status: ${JSON.stringify(last)}; state: ${JSON.stringify(await stateOf())}`;
    expect(end, seen).toBe('running');
    expect(await waitHttp(PORT), seen).toBe(`${tag}\n`);
    expect(await runningImage(), seen).toBe(`localhost/aq-upd:${tag}`);
    expect(String((await asUser(['podman', 'exec', 'upd', 'cat', '/data/mark'])).stdout)).toBe('kept');
    await asUser(['rm', '-rf', dir]);
  }, 300_000);

  it(
    `a kill -9 or a reboot at a random point of an update ends whole, ${ITERATIONS} time(s) each`,
    async () => {
      const outcomes: string[] = [];
      if ((await http(PORT)) === undefined) {
        // Run alone: the app as the first test leaves it.
        await buildImages();
        setRelease('v2', '4.0.0');
        await node().aq(['install', 'upd', '--wait', '--timeout', '60']);
        await asUser(['podman', 'exec', 'upd', 'sh', '-c', 'echo kept > /data/mark']);
        await lastGood();
      }
      for (let i = 0; i < ITERATIONS * 2; i++) {
        const rebooting = i % 2 === 1;
        // A bad release (must end rolled back) and a good one (must end on it), each once a
        // kill and once a reboot over two iterations.
        const bad = (i + Math.floor(i / 2)) % 2 === 0;
        const from = String((await http(PORT)) ?? '').trim();
        const tag = bad ? 'bad' : from === 'v2' ? 'v3' : 'v2';
        const roundStart = new Date().toISOString();
        const passes: string[] = [];
        setRelease(tag, `9.${i}.0`);
        const delayMs = Math.floor(Math.random() * (bad ? 20_000 : 6000));
        const running = execa(
          AS_USER,
          [
            'bash',
            '-c',
            `export ARCHY_QUADLET_APPS=${node().appsDir}; (while :; do archy-quadlet reconcile; sleep 0.5; done) >${LOOP_LOG} 2>&1 & echo $! > /tmp/aq-update-loop.pid; wait`,
          ],
          { reject: false, cwd: '/', stdin: 'ignore', timeout: 180_000 },
        );
        await new Promise((r) => setTimeout(r, delayMs));
        const phase = ((await stateOf())?.update as { phase?: string } | undefined)?.phase ?? 'none';
        if (rebooting) await reboot();
        await asUser(
          [
            'bash',
            '-c',
            `kill -KILL $(cat /tmp/aq-update-loop.pid 2>/dev/null) 2>/dev/null; pkill -KILL -f '^node .*archy-quadlet'; true`,
          ],
          { reject: false },
        );
        await running;
        // The next passes finish it.
        let last: unknown;
        const end = await waitFor(
          'the update to end',
          async () => {
            passes.push((await node().aq(['reconcile'], { reject: false })).stderr);
            const v = (await node().status('upd')) as unknown as { state: string; converged: boolean } | undefined;
            last = v;
            return v?.converged && (v.state === 'running' || v.state === 'rolled-back') ? v.state : undefined;
          },
          240_000,
          1000,
        ).catch(async (e: Error) => {
          const round = `${rebooting ? 'reboot' : 'kill -9'} after ${delayMs} ms (${phase}), ${tag}`;
          const state = JSON.stringify(await stateOf());
          throw new Error(
            `${e.message} in round ${i} (${round}); before: ${outcomes.join('; ')}; status: ${JSON.stringify(last)}; state: ${state}${await roundTrace(roundStart, passes)}`,
          );
        });
        const serving = await waitHttp(PORT);
        outcomes.push(
          `${rebooting ? 'reboot' : 'kill -9'} after ${delayMs} ms (${phase}), ${tag}: ${end}, serving ${serving.trim()}`,
        );
        // What a failed round saw: every round so far, the last status and the state, and (only
        // then: it costs Podman processes) the round's steps and the container's events.
        const wanted = bad ? ['rolled-back', `${from}\n`] : ['running', `${tag}\n`];
        const failed = end !== wanted[0] || serving !== wanted[1];
        const seen = `${outcomes.join('; ')}; status: ${JSON.stringify(last)}; state: ${JSON.stringify(await stateOf())}${
          failed ? await roundTrace(roundStart, passes) : ''
        }`;
        if (bad) {
          expect(end, seen).toBe('rolled-back');
          expect(serving, seen).toBe(`${from}\n`);
        } else {
          expect(end, seen).toBe('running');
          expect(serving, seen).toBe(`${tag}\n`);
          expect(await runningImage(), seen).toBe(`localhost/aq-upd:${tag}`);
        }
        const mark = String((await asUser(['podman', 'exec', 'upd', 'cat', '/data/mark'])).stdout);
        expect(mark, mark === 'kept' ? seen : `${seen}${failed ? '' : await roundTrace(roundStart, passes)}`).toBe(
          'kept',
        );
      }
      console.log(`update chaos: ${outcomes.join('; ')}`);
      await node().aq(['uninstall', 'upd', '--purge', '--wait', '--timeout', '60']);
    },
    120_000 + ITERATIONS * 2 * 300_000,
  );

  it('updated moments after its install, before a pass saw it settled: the release it ran is still what a failure returns to', async () => {
    await buildImages();
    setRelease('good', '1.0.0');
    // No health check: a pass counts it as settled only after some seconds, so the update
    // below arrives while the app has no last good set yet.
    const path = join(node().appsDir, 'upd', 'manifest.yml');
    const withCheck = readFileSync(path, 'utf8');
    writeFileSync(path, withCheck.replace(/^ {4}healthcheck:\n(?: {6}.*\n)+/m, ''));
    try {
      await node().aq(['install', 'upd', '--wait', '--timeout', '60']);
      expect(await waitHttp(PORT)).toBe('good\n');
      // A pass that --wait ran 5 s after the start has recorded the set: taken away again,
      // the app stands where one updated moments after its install does (no pass runs here).
      if ((await stateOf())!.lastGood) {
        const script =
          "const f=process.argv[1];const s=JSON.parse(require('fs').readFileSync(f,'utf8'));" +
          "delete s.apps.upd.lastGood;require('fs').writeFileSync(f,JSON.stringify(s))";
        await asUser(['node', '-e', script, join(node().stateDir, 'state.json')]);
        await asUser(['rm', '-f', join(node().stateDir, 'last-good', 'upd.json')]);
      }
      expect((await stateOf())!.lastGood).toBeUndefined();
      setRelease('crash', '2.0.0');
      // A reader first (the node's UI polls status): it renders the new manifest, and the
      // release that runs must still be known as what the update goes back to.
      await node().aq(['status']);
      const crash = await node().aq(['update', 'upd', '--wait', '--timeout', '200'], {
        reject: false,
        timeout: 220_000,
      });
      expect(crash.exitCode, `${crash.stdout}\n${crash.stderr}`).toBe(3);
      expect(crash.stderr).toMatch(/"step":"beginUpdate"/);
      expect(crash.stdout).toMatch(/update to 2\.0\.0 rolled back/);
      expect(await waitHttp(PORT)).toBe('good\n');
      expect(await runningImage()).toBe('localhost/aq-upd:good');
    } finally {
      writeFileSync(path, withCheck);
      await node().aq(['uninstall', 'upd', '--purge', '--wait', '--timeout', '60'], { reject: false });
    }
  }, 400_000);
});
