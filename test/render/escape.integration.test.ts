import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { renderApp } from '../../src/render/render-app.js';
import { requireLab } from '../support/lab.js';
import { asUser, chownTree, labUser, mkdirOwned, waitFor, type LabUser } from '../support/lab-user.js';
import { HOSTILE_STRINGS } from './hostile-strings.js';

// The real round trip: strings → manifest → our renderer → the Quadlet generator → systemd
// → podman → the process in the container, which writes down what it received. Nothing
// in between is modelled: if any layer changes a byte, this fails.

const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const LONE = /[\uD800-\uDFFF]/;
/** Any string the schema accepts: no control characters, well-formed. */
/** Any string the schema accepts (no control characters, well-formed), biased towards the characters that matter to unit files, shells and systemd. */
const special = fc.constantFrom('%', '$', '"', "'", '\\', ';', ' ', '#', '=', '{', '}', '`', '\u00a0', '\u3000', '₿');
const anyChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
const acceptedString = fc
  .string({ unit: fc.oneof({ weight: 1, arbitrary: special }, { weight: 2, arbitrary: anyChar }), maxLength: 24 })
  .filter((s) => !CONTROL.test(s) && !LONE.test(s));

const SCRIPT = [
  'i=0',
  'for a in "$@"; do printf "%s" "$a" > /out/arg$i; i=$((i+1)); done',
  'for n in $(seq 0 $((N-1))); do eval "printf \'%s\' \\"\\$V$n\\"" > /out/env$n; done',
  'touch /out/done',
  'exec sleep 600',
].join('; ');

const MAX_LABELS = 60; // the schema allows 64 labels per container
const enabled = requireLab('user-manager');
let user: LabUser;
let unitDir: string;
let work: string;

beforeAll(() => {
  if (!enabled) return;
  user = labUser();
  unitDir = join(user.home, '.config/containers/systemd/archy-quadlet-escape-test');
  work = mkdtempSync('/tmp/aq-escape-');
  chownTree(work, user);
});

afterAll(async () => {
  if (!enabled) return;
  rmSync(unitDir, { recursive: true, force: true });
  await asUser(['systemctl', '--user', 'daemon-reload']);
  rmSync(work, { recursive: true, force: true });
});

interface Received {
  args: string[];
  env: string[];
  labels: Record<string, string>;
  health: string[];
}

async function roundTrip(id: string, strings: string[]): Promise<Received> {
  const out = join(work, id);
  mkdirOwned(out, user);
  const half = Math.ceil(strings.length / 2);
  const manifest = {
    schemaVersion: 1,
    id,
    name: `escape test ${id} %n $HOME`,
    version: '1',
    containers: [
      {
        name: id,
        image: 'localhost/busybox:latest',
        entrypoint: ['/bin/sh', '-c', SCRIPT, 'sh', ...strings.slice(0, half)],
        command: strings.slice(half),
        environment: Object.fromEntries([['N', String(strings.length)], ...strings.map((s, i) => [`V${i}`, s])]),
        labels: Object.fromEntries(strings.slice(0, MAX_LABELS).map((s, i) => [`test.l${i}`, s])),
        binds: [{ source: out, target: '/out' }],
        healthcheck: { command: strings.find((s) => s.trim() !== '') ?? 'true', interval: '1h', readiness: false },
        restart: 'no',
        stopTimeout: 1,
      },
    ],
  };
  const result = createManifestValidator().validate(stringify(manifest), `${id}.yml`, id);
  if (!result.ok) throw new Error(`schema rejected the test manifest: ${JSON.stringify(result.errors)}`);
  const files = renderApp(result.app, { startAtBoot: false, source: `${id}.yml`, appDir: work, dataDir: work });
  mkdirOwned(join(unitDir, id), user);
  for (const f of files) writeFileSync(join(unitDir, id, f.name), f.content);
  chownTree(unitDir, user);
  await asUser(['systemctl', '--user', 'daemon-reload']);
  await asUser(['systemctl', '--user', 'start', `${id}.service`]);
  try {
    await waitFor(`${id} to write its output`, async () => (readdirSync(out).includes('done') ? true : undefined));
    const inspect = JSON.parse((await asUser(['podman', 'inspect', id])).stdout)[0];
    const read = (name: string) => {
      try {
        return readFileSync(join(out, name), 'utf8');
      } catch {
        return `<${name} not received>`;
      }
    };
    return {
      args: strings.map((_, i) => read(`arg${i}`)),
      env: strings.map((_, i) => read(`env${i}`)),
      labels: inspect.Config.Labels,
      health: inspect.Config.Healthcheck.Test,
    };
  } finally {
    await asUser(['systemctl', '--user', 'stop', `${id}.service`], { reject: false });
  }
}

function expectExact(strings: string[], got: Received) {
  strings.forEach((s, i) => {
    expect({ i, arg: got.args[i] }).toEqual({ i, arg: s });
    expect({ i, env: got.env[i] }).toEqual({ i, env: s });
    if (i < MAX_LABELS) expect({ i, label: got.labels[`test.l${i}`] }).toEqual({ i, label: s });
  });
  expect(got.labels['io.archipelago.managed-by']).toBe('archy-quadlet');
}

describe.runIf(enabled)('escaping, through the real generator, systemd and podman', () => {
  it('carries every hostile string byte-exact into argv, environment, labels and the health check', async () => {
    const strings = HOSTILE_STRINGS;
    const got = await roundTrip('aqesc-hostile', strings);
    expectExact(strings, got);
    expect(got.health).toEqual(['CMD', '/bin/sh', '-c', strings.find((s) => s.trim() !== '')]);
  }, 60_000);

  it('carries any string the schema accepts (fast-check sample, seed printed on failure)', async () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31);
    const strings = fc.sample(acceptedString, { numRuns: 120, seed });
    try {
      const got = await roundTrip('aqesc-fuzz', strings);
      expectExact(strings, got);
      expect(got.health).toEqual(['CMD', '/bin/sh', '-c', strings.find((s) => s.trim() !== '') ?? 'true']);
    } catch (e) {
      throw new Error(`escaping property failed with FC_SEED=${seed}: ${(e as Error).message}`);
    }
  }, 60_000);
});
