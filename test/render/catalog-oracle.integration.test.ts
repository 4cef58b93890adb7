import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createManifestValidator } from '../../src/manifest/validate-manifest.js';
import { templateSecretName, type AppSpec } from '../../src/manifest/app-spec.js';
import { renderNodeUnits, renderApp } from '../../src/render/render-app.js';
import { runQuadletDryRun, type GeneratorResult } from '../../src/output/quadlet-generator.js';
import { QUADLET_BIN, requireLab } from '../support/lab.js';
import { flagValues, splitExecStart } from '../support/exec-start.js';
import { CATALOG_FACTS, catalogRenderOptions, withTemplateTexts } from '../support/catalog.js';
import { NODE_NETWORK_SUBNET } from '../../src/names.js';

// The real Quadlet generator judges every catalog app: no error, no warning, every unit
// generated, and the podman command line carries what the manifest asked for. The expected
// flags are derived here from the manifest, independently of the renderer: the catalog is one
// node where every app is installed and each interface comes from its default provider (the
// one that says default: true, else the first by id).

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
    const app = withTemplateTexts(r.app, join(appsDir, id));
    specs.set(id, app);
    mkdirSync(join(dir, id));
    for (const f of renderApp(app, catalogRenderOptions(id))) writeFileSync(join(dir, id, f.name), f.content);
  }
  // The node network, which linked apps reference (written by the supervisor in _node/).
  mkdirSync(join(dir, '_node'));
  for (const f of renderNodeUnits(NODE_NETWORK_SUBNET)) writeFileSync(join(dir, '_node', f.name), f.content);
  result = await runQuadletDryRun(QUADLET_BIN, [dir]);
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The node network's Podman name and its unit (in _node/). */
const NODE_NET = 'archy-node';

/** `{{node.<fact>}}` replaced by the catalog's fixed node facts. */
const withFacts = (v: string) =>
  v.replace(/\{\{\s*node\.([A-Za-z0-9_-]*)\s*\}\}/g, (_all, name: string) => {
    const fact = (CATALOG_FACTS as Record<string, string>)[name];
    if (fact === undefined) throw new Error(`unknown node fact ${name}`);
    return fact;
  });

/** The app that provides an interface on the catalog node: the default, else the first by id. */
function providerOf(iface: string): { id: string; container: string } | undefined {
  const candidates = apps
    .map((id) => ({ id, p: specs.get(id)!.manifest.provides?.[iface] }))
    .filter((x) => x.p !== undefined)
    .sort((a, b) => Number(b.p!.default === true) - Number(a.p!.default === true) || (a.id < b.id ? -1 : 1));
  const first = candidates[0];
  return first ? { id: first.id, container: first.p!.container } : undefined;
}

/** A manifest container's service name: `<id>.service` when named like the app, else `<id>-<name>.service`. */
const serviceOf = (appId: string, container: string) =>
  `${container === appId ? appId : `${appId}-${container}`}.service`;

/** `iface.name` → [iface, name]; an own name → undefined. */
const ifaceRef = (ref: string): [string, string] | undefined => {
  const dot = ref.indexOf('.');
  return dot < 0 ? undefined : [ref.slice(0, dot), ref.slice(dot + 1)];
};

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

  it('generates the node network with its fixed subnet', () => {
    const unit = result.services.get(`${NODE_NET}-network.service`);
    expect(unit, `${NODE_NET}-network.service generated`).toBeDefined();
    const argv = splitExecStart(/^ExecStart=(.*)$/m.exec(unit!)![1]!);
    expect(argv.slice(0, 3)).toEqual(['/usr/bin/podman', 'network', 'create']);
    expect(flagValues(argv, '--subnet')).toEqual([NODE_NETWORK_SUBNET]);
    expect(argv.at(-1)).toBe(NODE_NET);
  });

  it('no container reaches another app through host.containers.internal, and no {{node.*}} is left', () => {
    for (const id of apps)
      for (const c of specs.get(id)!.containers) {
        const execStart = /^ExecStart=(.*)$/m.exec(result.services.get(c.service)!)![1]!;
        expect(execStart, c.service).not.toContain('host.containers.internal');
        expect(execStart, c.service).not.toMatch(/\{\{\s*node\./);
      }
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
        const mounts = flagValues(argv, '-v');
        const mounted = mounts.map((v) => v.split(':').slice(0, 2).join(':'));
        for (const v of s.volumes ?? []) {
          const r = ifaceRef(v.volume);
          if (!r) {
            expect(mounted).toContain(`${id}-${v.volume}:${v.target}`);
            continue;
          }
          // A provider's exported volume: its Podman volume, always read-only.
          const p = providerOf(r[0]);
          expect(p, `${c.service}: a provider of ${r[0]}`).toBeDefined();
          const mount = mounts.find((x) => x.startsWith(`${p!.id}-${r[1]}:${v.target}:`));
          expect(mount, `${c.service} mounts ${p!.id}-${r[1]}`).toBeDefined();
          expect(mount!.split(':')[2]!.split(',')).toContain('ro');
        }
        expect(flagValues(argv, '--memory')).toEqual(s.memory ? [String(bytes(s.memory))] : []);
        // Links: the interfaces this container serves, and the providers of those it requires.
        const m = app.manifest;
        const served = Object.entries(m.provides ?? {})
          .filter(([, p]) => p.container === s.name)
          .map(([iface]) => iface)
          .sort();
        const linked = Object.entries(m.requires ?? {})
          .filter(([, r]) => !r.containers || r.containers.includes(s.name))
          .flatMap(([iface]) => {
            const p = providerOf(iface);
            return p ? [{ iface, ...p }] : [];
          });
        // Aliases are per network (`--network net:alias=a,alias=b`): no --network-alias at all.
        expect(flagValues(argv, '--network-alias')).toEqual([]);
        const nets: string[] = [];
        // A container's own network (host, none) stands for the app's.
        if (s.network) nets.push(s.network);
        else if (app.network === 'host' || app.network === 'none') nets.push(app.network);
        else {
          if (app.network === 'private')
            nets.push(
              `${id}:${[...new Set([s.name, ...(s.networkAliases ?? [])])].map((a) => `alias=${a}`).join(',')}`,
            );
          if (served.length > 0 || linked.length > 0)
            nets.push(served.length > 0 ? `${NODE_NET}:${served.map((a) => `alias=${a}`).join(',')}` : NODE_NET);
        }
        expect(flagValues(argv, '--network'), `${c.service} networks`).toEqual(nets);
        // A dependent never starts a provider, and starts after it is active.
        for (const l of linked) {
          const provider = serviceOf(l.id, l.container);
          expect(unit, `${c.service} Requisite=${provider}`).toMatch(new RegExp(`^Requisite=.*\\b${provider}\\b`, 'm'));
          expect(unit, `${c.service} After=${provider}`).toMatch(new RegExp(`^After=.*\\b${provider}\\b`, 'm'));
          expect(flagValues(argv, '--label')).toContain(`io.archipelago.link.${l.iface}=${l.id}`);
        }
        if (linked.length === 0) expect(unit).not.toMatch(/^Requisite=/m);
        // Secrets: an own name is the app's Podman secret; <iface>.<name> is the provider's.
        const podmanSecret = (ref: string) => {
          const r = ifaceRef(ref);
          if (!r) return `${id}-${ref}`;
          const p = providerOf(r[0]);
          expect(p, `${c.service}: a provider of ${r[0]}`).toBeDefined();
          return `${p!.id}-${r[1]}`;
        };
        const secrets = flagValues(argv, '--secret').map((x) => x.split(',')[0]);
        const wanted = [...Object.values(s.secretEnvironment ?? {}), ...(s.secretFiles ?? []).map((f) => f.secret)].map(
          podmanSecret,
        );
        // A config file rendered from a template is a secret of the container's own, at its target, read-only.
        const rendered = (s.templates ?? []).map((t) => templateSecretName(c.unitBase, t.target));
        expect(secrets.sort()).toEqual([...wanted, ...rendered].sort());
        for (const t of s.templates ?? [])
          expect(flagValues(argv, '--secret')).toContainEqual(
            expect.stringMatching(
              new RegExp(`^${templateSecretName(c.unitBase, t.target)},type=mount,target=${t.target},`),
            ),
          );
        for (const [k, v] of Object.entries(s.environment ?? {}))
          expect(flagValues(argv, '--env')).toContain(`${k}=${withFacts(String(v))}`);
        if (s.entrypoint) expect(JSON.parse(flagValues(argv, '--entrypoint')[0]!)).toEqual(s.entrypoint.map(withFacts));
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
            s.command.map(withFacts),
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
