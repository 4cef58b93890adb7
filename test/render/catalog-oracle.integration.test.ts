import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import type { AppSpec } from '../../src/manifest/app-spec.js';
import { renderApp } from '../../src/render/render-app.js';
import { runQuadletDryRun, type GeneratorResult } from '../../src/output/quadlet-generator.js';
import { QUADLET_BIN, requireLab } from '../support/lab.js';
import { flagValues, splitExecStart } from '../support/exec-start.js';
import { catalogRenderOptions } from '../support/catalog.js';

// The real Quadlet generator judges every catalog app: no error, no warning, every unit
// generated, and the podman command line carries what the manifest asked for. The expected
// flags are derived here from the manifest, independently of the renderer.

const appsDir = fileURLToPath(new URL('../../apps', import.meta.url));
const apps = readdirSync(appsDir)
  .filter((d) => existsSync(join(appsDir, d, 'manifest.yml')))
  .sort();
const enabled = requireLab('quadlet');
const validator = createManifestValidator();
const specs = new Map<string, AppSpec>();
let dir: string;
let result: GeneratorResult;

beforeAll(async () => {
  if (!enabled) return;
  dir = mkdtempSync(join(tmpdir(), 'aq-oracle-'));
  for (const id of apps) {
    const r = validator.validate(readFileSync(join(appsDir, id, 'manifest.yml'), 'utf8'), id, id);
    if (!r.ok) throw new Error(`${id} is invalid: ${JSON.stringify(r.errors)}`);
    specs.set(id, r.app);
    mkdirSync(join(dir, id));
    for (const f of renderApp(r.app, catalogRenderOptions(id))) writeFileSync(join(dir, id, f.name), f.content);
  }
  result = await runQuadletDryRun(QUADLET_BIN, [dir]);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const MiB = 2 ** 20;
const IEC: Record<string, number> = { Ki: 1024, Mi: MiB, Gi: 1024 * MiB, Ti: 1024 * 1024 * MiB };
const bytes = (s: string) => Number(/^\d+/.exec(s)![0]) * IEC[s.replace(/^\d+/, '')]!;
const seconds = (d: number | string | undefined, dflt: number) =>
  d === undefined
    ? dflt
    : typeof d === 'number'
      ? d
      : [...d.matchAll(/(\d+)(ms|s|m|h)/g)].reduce(
          (t, m) => t + Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms']!,
          0,
        );

describe.runIf(enabled)('the Quadlet generator on the catalog', () => {
  it('accepts every app with no error and no warning', () => {
    expect(result.problems).toEqual([]);
    expect(result.exitCode).toBe(0);
  });

  for (const id of apps) {
    it(`${id}: every container's podman command carries what the manifest asks for`, () => {
      const app = specs.get(id)!;
      for (const c of app.containers) {
        const unit = result.services.get(c.service);
        expect(unit, `${c.service} generated`).toBeDefined();
        const execStart = /^ExecStart=(.*)$/m.exec(unit!)![1]!;
        const argv = splitExecStart(execStart);
        const s = c.spec;
        expect(argv.slice(0, 2)).toEqual(['/usr/bin/podman', 'run']);
        expect(flagValues(argv, '--name')).toEqual([c.containerName]);
        expect(flagValues(argv, '--stop-timeout')).toEqual([String(Math.ceil(seconds(s.stopTimeout, 10)))]);
        expect(/^TimeoutStopSec=(\d+)$/m.exec(unit!)![1]).toBe(String(Math.ceil(seconds(s.stopTimeout, 10)) + 30));
        const ports = (s.ports ?? []).map(
          (p) =>
            `${p.hostIp ? (p.hostIp.includes(':') ? `[${p.hostIp}]:` : `${p.hostIp}:`) : ''}${p.hostPort ?? p.containerPort}:${p.containerPort}${p.protocol === 'udp' ? '/udp' : ''}`,
        );
        expect(flagValues(argv, '--publish').sort()).toEqual(ports.sort());
        const vols = (s.volumes ?? []).map((v) => `${id}-${v.volume}:${v.target}`);
        const mounted = flagValues(argv, '-v').map((v) => v.split(':').slice(0, 2).join(':'));
        for (const v of vols) expect(mounted).toContain(v);
        expect(flagValues(argv, '--memory')).toEqual(s.memory ? [String(bytes(s.memory))] : []);
        expect(flagValues(argv, '--network-alias').sort()).toEqual(
          app.network === 'private' ? [...new Set([s.name, ...(s.networkAliases ?? [])])].sort() : [],
        );
        if (app.network === 'private') expect(flagValues(argv, '--network')).toEqual([id]);
        const secrets = flagValues(argv, '--secret').map((x) => x.split(',')[0]);
        const wanted = [...Object.values(s.secretEnvironment ?? {}), ...(s.secretFiles ?? []).map((f) => f.secret)].map(
          (x) => `${id}-${x}`,
        );
        expect(secrets.sort()).toEqual(wanted.sort());
        for (const [k, v] of Object.entries(s.environment ?? {}))
          expect(flagValues(argv, '--env')).toContain(`${k}=${String(v)}`);
        if (s.healthcheck) {
          const cmd = JSON.parse(flagValues(argv, '--health-cmd')[0]!) as string[];
          if (s.healthcheck.tcp)
            expect(cmd).toEqual(['/bin/sh', '-c', expect.stringContaining(`nc -z 127.0.0.1 ${s.healthcheck.tcp} `)]);
          else if (s.healthcheck.http) expect(cmd.join(' ')).toContain(s.healthcheck.http);
          else
            expect(cmd).toEqual(
              Array.isArray(s.healthcheck.command) ? s.healthcheck.command : ['/bin/sh', '-c', s.healthcheck.command],
            );
          expect(argv.includes('--sdnotify=healthy')).toBe(s.healthcheck.readiness !== false);
        } else {
          expect(flagValues(argv, '--health-cmd')).toEqual([]);
        }
        if (!s.capabilities?.podmanDefaults) expect(flagValues(argv, '--cap-drop')).toEqual(['all']);
        if (s.noNewPrivileges !== false) expect(argv).toContain('--security-opt=no-new-privileges');
        if (s.command)
          expect(argv.slice(-s.command.length).map((a) => (a === '${ARCHY_QUADLET_EMPTY}' ? '' : a))).toEqual(
            s.command,
          );
        if (c.build) {
          expect(argv).toContain(c.build.imageTag);
          const build = result.services.get(c.build.service);
          expect(build, `${c.build.service} generated`).toMatch(/^RemainAfterExit=yes$/m);
        } else {
          expect(argv).toContain(s.image);
        }
      }
    });
  }
});
