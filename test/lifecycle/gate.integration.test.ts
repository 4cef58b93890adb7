import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { parseDocument, type Document } from 'yaml';
import { dirname, join } from 'node:path';
import { execa } from 'execa';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree, waitFor } from '../support/lab-user.js';
import { containerId, containers, http, reboot, useLabNode } from '../support/node.js';
import { ALLOWED_SEQUENCES, GATE_APPS, STOP_ORDER, stateSequence, type GateApp } from './gate-apps.js';
import { gateIterations, recordResult, RESULTS_FILE } from './results.js';
import { startSampler, type StatusSampler } from './status-sampler.js';

// The production gate: every app of the test catalog through install / reachable / stop /
// start / restart / reinstall / supervisor-restart / reboot / uninstall, ARCHY_ITERATIONS
// times, on a node set up as a user would (reconcile timer, watcher, boot generator hook),
// through the installed package. The apps of one event go concurrently, as a UI would send
// them. Every event checks what a user would: HTTP, ports, containers, `status --json`
// sampled all along, data and secrets.

const enabled = requireLab('user-manager');
const ITERATIONS = gateIterations(process.env.ARCHY_ITERATIONS);
const node = useLabNode(enabled);
let sampler: StatusSampler;

/** What must never change or only grow: the secret-app's answer, the data app's log. */
const kept: { secretBody?: string; dataLog?: string } = {};

beforeAll(async () => {
  // A node as set up by its owner: the generator hook (root), then timer and watcher.
  await execa('archy-quadlet', ['setup', '--system', '--apps', node().appsDir], { timeout: 60_000 });
  await node().aq(['setup', '--watch']);
  sampler = startSampler(node());
}, 120_000);

afterAll(async () => {
  await sampler?.stop();
  if (!enabled) return;
  await node().aq(['setup', '--remove'], { reject: false });
  await execa('archy-quadlet', ['setup', '--system', '--remove'], { reject: false });
}, 120_000);

const manifestOf = (id: string) => join(node().appsDir, id, 'manifest.yml');

/**
 * Puts a manifest in the lab catalog whole (a temporary file renamed over it), as a node
 * receives a release: the apps' events run side by side, and a pass that read another app's
 * half-written file would fail on it ("must be a mapping"), as one gate run did.
 */
function writeManifest(id: string, text: string): void {
  const tmp = `${manifestOf(id)}.gate-tmp`;
  writeFileSync(tmp, text);
  chownTree(tmp, node().user);
  renameSync(tmp, manifestOf(id));
}

/** Changes an app's manifest in the lab catalog, as a node receives a new release. */
function editManifest(id: string, change: (doc: Document) => void): void {
  const doc = parseDocument(readFileSync(manifestOf(id), 'utf8'));
  change(doc);
  writeManifest(id, doc.toString());
}

async function answer(a: GateApp): Promise<string | undefined> {
  const b = await http(a.port, a.path);
  return b !== undefined && a.works(b) ? b : undefined;
}

const waitWorking = (a: GateApp, timeoutMs = 90_000) =>
  waitFor(`${a.id} to answer on ${a.port}${a.path}`, () => answer(a), timeoutMs, 250);

async function expectStopped(a: GateApp): Promise<void> {
  expect(await http(a.port, a.path), `${a.id}: port ${a.port} still answers`).toBeUndefined();
  const left = (await containers()).filter((c) => a.containers.includes(c));
  expect(left, `${a.id}: containers left`).toEqual([]);
}

/** The app's final status: in `state`, converged, and no unit failed. */
async function expectStatus(a: GateApp, state: string) {
  const s = await node().status(a.id);
  expect(s, `${a.id}: missing from status`).toBeDefined();
  expect({ state: s!.state, converged: s!.converged }).toEqual({ state, converged: true });
  expect(s!.units.filter((u) => u.state === 'failed').map((u) => `${u.unit}: ${u.failure}`)).toEqual([]);
  return s!;
}

/** Status sampled while the event lasted went through allowed states only, and told the truth. */
function expectTruthfulStatus(a: GateApp, event: string, startMs: number, endMs: number, final: string) {
  const samples = sampler.between(startMs, endMs);
  const seq = stateSequence([...samples.map((s) => s.states[a.id] ?? 'absent'), final]);
  expect(seq, `${a.id}: status during ${event}`).toMatch(ALLOWED_SEQUENCES[event]!);
  for (const s of samples) {
    const state = s.states[a.id] ?? 'absent';
    // Only claims that cannot be undone while this event lasts are checked against reality.
    if ((event === 'install' || event === 'start') && state === 'running') {
      expect(s.reachable[a.id], `${a.id}: status said running at ${s.at} but it did not answer`).toBe(true);
    }
    if ((event === 'stop' && state === 'stopped') || (event === 'uninstall' && state === 'absent')) {
      expect(
        a.containers.filter((c) => s.containers.has(c)),
        `${a.id}: status said ${state} at ${s.at} but containers were there`,
      ).toEqual([]);
      expect(s.reachable[a.id], `${a.id}: status said ${state} at ${s.at} but it answered`).toBe(false);
    }
  }
  return seq;
}

/** Data and secrets: the secret never changes; the data log only grows, a line per start. */
async function expectKept(a: GateApp, newStarts: number) {
  if (a.id === 'secret-app') {
    const body = (await answer(a))!;
    kept.secretBody ??= body;
    expect(body, 'the secret changed').toBe(kept.secretBody);
  }
  if (a.id === 'data') {
    const log = (await answer(a))!;
    if (kept.dataLog !== undefined) {
      expect(log.startsWith(kept.dataLog), 'the data written before is gone').toBe(true);
      expect(log.split('\n').length - kept.dataLog.split('\n').length, 'lines appended (one per start)').toBe(
        newStarts,
      );
    }
    kept.dataLog = log;
  }
}

async function containerIds(a: GateApp): Promise<Array<string | undefined>> {
  return Promise.all(a.containers.map((c) => containerId(c)));
}

/**
 * What a dependent saw of its provider when its event failed: the name it resolves, the
 * answer it gets with its credentials, the containers, networks, DNS records and secrets
 * around it, and both units' journals. Written beside the results, for the reader of a red
 * gate (a dependent that lost its provider for good once, after the provider's update, and
 * left no trace of why). The paths inside are rpc-client's, the gate's one dependent.
 */
async function dumpLinkDiagnosis(iteration: number, event: string, a: GateApp): Promise<void> {
  const c = a.containers[a.containers.length - 1]!;
  const script = [
    'set -x',
    'date -u +%FT%T.%3NZ',
    'podman ps -a --format "{{.Names}} {{.ID}} {{.Status}} {{.Networks}}"',
    `podman inspect ${c} --format "{{json .NetworkSettings.Networks}}"`,
    `podman inspect ${a.needs} --format "{{json .NetworkSettings.Networks}}"`,
    `podman exec ${c} sh -c 'cat /etc/resolv.conf; nslookup rpc; wget -T 3 -q -O- "http://archy:$(cat /run/secrets/rpc-password)@rpc:8332/rpc/"; echo wget=$?; wc -c /run/secrets/rpc-password'`,
    `podman exec ${a.needs} sh -c 'wc -c /run/secrets/password'`,
    'ls -la "$XDG_RUNTIME_DIR"/containers/networks/aardvark-dns/ && cat "$XDG_RUNTIME_DIR"/containers/networks/aardvark-dns/*',
    'podman secret ls --format "{{.ID}} {{.Name}} {{.CreatedAt}}"',
    'cat ~/.local/state/archy-quadlet/secret-ids.json',
    `journalctl --user -n 80 --no-pager -u ${c}.service -u ${a.needs}.service`,
  ].join('; ');
  const r = await asUser(['bash', '-c', script], { reject: false, timeout: 60_000 });
  writeFileSync(
    join(dirname(RESULTS_FILE), `diag-${iteration}-${event}-${a.id}.txt`),
    `${r.stdout}\n--- stderr\n${r.stderr}`,
  );
}

const events = new Map<string, { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void }>();

/** Settles when an app's event of an iteration has run (the turns a linked pair takes). */
function eventDone(iteration: number, event: string, app: string) {
  const key = `${iteration}/${event}/${app}`;
  if (!events.has(key)) {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    promise.catch(() => undefined); // awaited by the app that waits its turn, if any
    events.set(key, { promise, resolve, reject });
  }
  return events.get(key)!;
}

/** One app × event × iteration: timed, recorded for the matrix, and a test of its own. */
function gateIt(
  iteration: number,
  event: string,
  a: GateApp,
  fn: (startedAt: number) => Promise<void>,
  o: { timeoutMs?: number; since?: () => number } = {},
) {
  const finished = eventDone(iteration, event, a.id);
  it.concurrent(
    a.id,
    async () => {
      // Apps run each event side by side, but a pair linked by provides/requires takes turns:
      // a provider comes up before its dependent, and goes down after it.
      const reverse = event === 'stop' || event === 'reinstall' || event === 'uninstall';
      const before = reverse ? (a.dependents ?? []) : a.needs ? [a.needs] : [];
      await Promise.all(before.map((id) => eventDone(iteration, event, id).promise.catch(() => undefined)));
      // A shared event (the reboot) is timed from when it began, not from when this app's turn came.
      const startedAt = o.since?.() ?? Date.now();
      try {
        await fn(startedAt);
        finished.resolve();
        const endedAt = Date.now();
        recordResult({
          kind: 'event',
          iteration,
          app: a.id,
          event,
          ok: true,
          ms: endedAt - startedAt,
          startedAt,
          endedAt,
        });
      } catch (e) {
        const endedAt = Date.now();
        recordResult({
          kind: 'event',
          iteration,
          app: a.id,
          event,
          ok: false,
          ms: endedAt - startedAt,
          startedAt,
          endedAt,
          error: (e as Error).message,
        });
        if (a.needs) await dumpLinkDiagnosis(iteration, event, a);
        finished.reject(e as Error);
        throw e;
      }
    },
    o.timeoutMs ?? 240_000,
  );
}

/** install or start --wait: the app answers, status says running and told the truth on the way, data kept. */
async function bringUp(a: GateApp, verb: 'install' | 'start', t0: number): Promise<void> {
  await node().aq([verb, a.id, '--wait', '--timeout', String(a.startTimeoutSec)]);
  await waitWorking(a, 10_000);
  await expectStatus(a, 'running');
  expectTruthfulStatus(a, verb, t0, Date.now(), 'running');
  await expectKept(a, 1);
}

describe.runIf(enabled)('the production gate', () => {
  for (let i = 1; i <= ITERATIONS; i++) {
    describe(`iteration ${i}`, () => {
      describe('install', () => {
        for (const a of GATE_APPS) {
          gateIt(i, 'install', a, (t0) => bringUp(a, 'install', t0));
        }
      });

      describe('reachable', () => {
        for (const a of GATE_APPS) {
          gateIt(i, 'reachable', a, async () => {
            expect(await answer(a), `${a.id} does not answer`).toBeDefined();
            const s = await expectStatus(a, 'running');
            expect(
              s.units.every((u) => u.state === 'running'),
              `${a.id}: ${JSON.stringify(s.units)}`,
            ).toBe(true);
            await expectKept(a, 0);
          });
        }
      });

      describe('stop', () => {
        for (const a of STOP_ORDER) {
          gateIt(i, 'stop', a, async (t0) => {
            // Never blocks: returns once the stop is issued, and the node reports "stopping".
            const r = await node().aq(['stop', a.id]);
            // The whole summary on a mismatch (a failed step's error is at its end).
            expect(r.stdout, r.stdout).toMatch(
              new RegExp(`^${a.id}: stop recorded; \\d+ step\\(s\\) issued; now (stopping|stopped)`, 'm'),
            );
            await waitFor(
              `${a.id} to be stopped`,
              async () => ((await node().status(a.id))?.state === 'stopped' ? true : undefined),
              (a.stopTimeoutSec + 30) * 1000,
              250,
            );
            await expectStopped(a);
            const s = await expectStatus(a, 'stopped');
            expect(
              s.units.filter((u) => u.result !== 'success').map((u) => `${u.unit}: ${u.result}`),
              'a deliberate stop is not a failure',
            ).toEqual([]);
            const seq = expectTruthfulStatus(a, 'stop', t0, Date.now(), 'stopped');
            // Reported while it lasts: by the verb itself, or by status while the sampler looked
            // (on a loaded 2-core machine one sampling round can outlast a 5 s stop).
            const said = /; now stopping/.test(r.stdout) ? ' stopping (the verb)' : '';
            if (a.stopTimeoutSec >= 5)
              expect(seq + said, 'a long stop is reported while it lasts').toContain('stopping');
          });
        }
      });

      describe('start', () => {
        for (const a of GATE_APPS) {
          gateIt(i, 'start', a, (t0) => bringUp(a, 'start', t0));
        }
      });

      describe('restart', () => {
        for (const a of GATE_APPS) {
          gateIt(i, 'restart', a, async (t0) => {
            const before = await containerIds(a);
            await node().aq(['restart', a.id, '--wait', '--timeout', String(a.startTimeoutSec)]);
            await waitWorking(a, 10_000);
            const after = await containerIds(a);
            after.forEach((id, k) => expect(id, `${a.containers[k]} was not restarted`).not.toBe(before[k]));
            await expectStatus(a, 'running');
            expectTruthfulStatus(a, 'restart', t0, Date.now(), 'running');
            await expectKept(a, 1);
          });
        }
      });

      describe('update', () => {
        for (const a of GATE_APPS) {
          gateIt(
            i,
            'update',
            a,
            async (t0) => {
              // A new release, as a node receives it: a version and a setting of every container.
              const before = await containerIds(a);
              editManifest(a.id, (doc) => {
                doc.set('version', `${i}.0.0-gate`);
                const n = (doc.get('containers') as { items: unknown[] }).items.length;
                for (let k = 0; k < n; k++) doc.setIn(['containers', k, 'environment', 'GATE_RELEASE'], String(i));
              });
              const limit = a.startTimeoutSec * 2 + 120;
              const r = await node().aq(['update', a.id, '--wait', '--timeout', String(limit)], {
                timeout: (limit + 60) * 1000,
              });
              expect(r.stdout, r.stdout).toMatch(new RegExp(`^${a.id}: running$`, 'm'));
              await waitWorking(a, 10_000);
              const after = await containerIds(a);
              after.forEach((id, k) => expect(id, `${a.containers[k]} was not updated`).not.toBe(before[k]));
              await expectStatus(a, 'running');
              expectTruthfulStatus(a, 'update', t0, Date.now(), 'running');
              await expectKept(a, 1);
            },
            { timeoutMs: 400_000 },
          );
        }
      });

      describe('rollback', () => {
        for (const a of GATE_APPS) {
          gateIt(
            i,
            'rollback',
            a,
            async (t0) => {
              // A release whose last container exits at once: rolled back, serving as before.
              const good = readFileSync(manifestOf(a.id), 'utf8');
              editManifest(a.id, (doc) => {
                doc.set('version', `${i}.0.1-broken`);
                const n = (doc.get('containers') as { items: unknown[] }).items.length;
                doc.setIn(['containers', n - 1, 'command'], doc.createNode(['sh', '-c', 'exit 3']));
              });
              const limit = a.startTimeoutSec * 2 + 200;
              const r = await node().aq(['update', a.id, '--wait', '--timeout', String(limit)], {
                reject: false,
                timeout: (limit + 60) * 1000,
              });
              expect(r.exitCode, `${r.stdout}\n${r.stderr.slice(-2000)}`).toBe(3);
              expect(r.stdout).toMatch(new RegExp(`^${a.id}: rolled-back$`, 'm'));
              expect(r.stdout).toMatch(/update to .*-broken rolled back/);
              await waitWorking(a, 30_000);
              await expectStatus(a, 'rolled-back');
              expectTruthfulStatus(a, 'rollback', t0, Date.now(), 'rolled-back');
              await expectKept(a, 1);
              // The good release back in the catalog: running on it, as it was.
              writeManifest(a.id, good);
              await node().aq(['reconcile']);
              await expectStatus(a, 'running');
            },
            { timeoutMs: 500_000 },
          );
        }
      });

      describe('reinstall', () => {
        for (const a of STOP_ORDER) {
          gateIt(i, 'reinstall', a, async (t0) => {
            // A provider goes with its dependents (--cascade), and they come back after it.
            const cascade = a.dependents ? ['--cascade'] : [];
            await node().aq(['uninstall', a.id, ...cascade, '--wait', '--timeout', '120']);
            expect(await node().status(a.id)).toBeUndefined();
            for (const d of a.dependents ?? [])
              expect(await node().status(d), `${d} uninstalled with it`).toBeUndefined();
            await node().aq(['install', a.id, '--wait', '--timeout', String(a.startTimeoutSec)]);
            for (const d of a.dependents ?? []) await node().aq(['install', d, '--wait', '--timeout', '120']);
            await waitWorking(a, 10_000);
            await expectStatus(a, 'running');
            expectTruthfulStatus(a, 'reinstall', t0, Date.now(), 'running');
            await expectKept(a, 1);
          });
        }
      });

      describe('supervisor-restart', () => {
        const ids: Record<string, Array<string | undefined>> = {};
        beforeAll(async () => {
          for (const a of GATE_APPS) ids[a.id] = await containerIds(a);
          // The watcher restarted, then killed outright; systemd brings it back; the timer's
          // pass and a CLI pass run on top.
          await asUser(['systemctl', '--user', 'restart', 'archy-quadlet-watch.service']);
          const pid = String(
            (await asUser(['systemctl', '--user', 'show', '-P', 'MainPID', 'archy-quadlet-watch.service'])).stdout,
          ).trim();
          await asUser(['kill', '-9', pid]);
          await waitFor(
            'the watcher to be back',
            async () => {
              const r = await asUser(['systemctl', '--user', 'show', '-P', 'MainPID', 'archy-quadlet-watch.service'], {
                reject: false,
              });
              const now = String(r.stdout).trim();
              return now !== '0' && now !== pid ? true : undefined;
            },
            30_000,
            250,
          );
          await asUser(['systemctl', '--user', 'start', 'archy-quadlet-reconcile.service']);
          await node().aq(['reconcile']);
        }, 120_000);
        for (const a of GATE_APPS) {
          gateIt(i, 'supervisor-restart', a, async () => {
            expect(await containerIds(a), `${a.id}: containers were restarted by a supervisor restart`).toEqual(
              ids[a.id],
            );
            await waitWorking(a, 10_000);
            await expectStatus(a, 'running');
            await expectKept(a, 0);
          });
        }
      });

      describe('reboot', () => {
        // One app (a different one each iteration) is stopped before the reboot: it must stay stopped.
        const standalone = GATE_APPS.filter((a) => !a.dependents);
        const stopped = standalone[(i - 1) % standalone.length]!;
        let rebootAt = 0;
        beforeAll(async () => {
          await node().aq(['stop', stopped.id, '--wait', '--timeout', '60']);
          sampler.pause();
          rebootAt = Date.now();
          await reboot();
          sampler.resume();
        }, 300_000);
        for (const a of GATE_APPS) {
          gateIt(
            i,
            'reboot',
            a,
            async () => {
              if (a === stopped) {
                await waitFor(
                  'the others to be back',
                  async () =>
                    (await Promise.all(GATE_APPS.filter((x) => x !== a).map(answer))).every(Boolean) ? true : undefined,
                  120_000,
                  500,
                );
                await node().aq(['reconcile']);
                await expectStopped(a);
                await expectStatus(a, 'stopped');
                await node().aq(['start', a.id, '--wait', '--timeout', String(a.startTimeoutSec)]);
              } else {
                await waitWorking(a, 120_000);
              }
              await expectStatus(a, 'running');
              await expectKept(a, 1);
            },
            { timeoutMs: 400_000, since: () => rebootAt },
          );
        }
      });

      describe('uninstall', () => {
        for (const a of STOP_ORDER) {
          gateIt(i, 'uninstall', a, async (t0) => {
            await node().aq(['uninstall', a.id, '--wait', '--timeout', '120']);
            expect(await node().status(a.id)).toBeUndefined();
            await expectStopped(a);
            expectTruthfulStatus(a, 'uninstall', t0, Date.now(), 'absent');
            expect(existsSync(join(node().unitRoot, a.id)), 'unit files left').toBe(false);
            const units = String(
              (await asUser(['systemctl', '--user', 'list-units', '--all', '--plain', '--no-legend', `${a.id}*`]))
                .stdout,
            );
            expect(
              units.split('\n').filter((l) => /^\S+\.service\s+loaded/.test(l.trim()) && !/not-found/.test(l)),
              'units still loaded',
            ).toEqual([]);
            const networks = String((await asUser(['podman', 'network', 'ls', '--format', '{{.Name}}'])).stdout).split(
              '\n',
            );
            expect(networks, 'network left').not.toContain(a.id);
            const images = String((await asUser(['podman', 'images', '--format', '{{.Repository}}'])).stdout).split(
              '\n',
            );
            expect(images, 'built image left').not.toContain(`localhost/archy/${a.id}`);
            // What is kept: volumes and secrets.
            const volumes = String((await asUser(['podman', 'volume', 'ls', '--format', '{{.Name}}'])).stdout).split(
              '\n',
            );
            for (const v of a.volumes) expect(volumes, `volume ${v} lost`).toContain(v);
            const secrets = String(
              (await asUser(['podman', 'secret', 'ls', '--noheading', '--format', '{{.Name}}'])).stdout,
            )
              .split('\n')
              .map((s) => s.trim());
            for (const s of a.secrets) expect(secrets, `secret ${s} lost`).toContain(s);
          });
        }
      });
    });
  }

  it('status answered every time it was asked', () => {
    expect(sampler.errors).toEqual([]);
    expect(sampler.samples.length).toBeGreaterThan(0);
  });
});
