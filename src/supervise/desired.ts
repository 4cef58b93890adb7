import { dirname, join, normalize } from 'node:path';
import type { AppSpec } from '../manifest/app-spec.js';
import { serviceNames } from '../manifest/app-spec.js';
import type { CatalogApp } from '../catalog/load-catalog.js';
import { LABEL_APP, LABEL_MANAGED_BY, LinkError, renderApp, templateInput } from '../render/render-app.js';
import { durationMs } from '../manifest/measures.js';
import type { RenderLinks } from '../graph/app-graph.js';
import { UnitValueError } from '../render/escape.js';
import { appDataDir, type Paths } from '../paths.js';
import type { Desired, DesiredApp, DesiredHook, RenderedApp } from './types.js';
import { intentOf, type SupervisorState } from './state-store.js';

/** What should be, from the state (intents) and the catalog (manifests). Pure. */
export function buildDesired(
  state: SupervisorState,
  catalog: Map<string, CatalogApp>,
  paths: Paths,
  links: Map<string, RenderLinks> = new Map(),
): Desired {
  const apps = Object.entries(state.apps)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([id, intent]): DesiredApp => {
      const base = intentOf(id, intent);
      const entry = catalog.get(id);
      if (!entry)
        return { ...base, error: `no manifest for "${id}" in ${paths.appsDir}: its units are kept as they are` };
      if (!entry.result.ok) {
        const e = entry.result.errors[0]!;
        const more = entry.result.errors.length > 1 ? ` (and ${entry.result.errors.length - 1} more)` : '';
        return { ...base, error: `${e.file}:${e.line}:${e.col}: ${e.field}: ${e.message}${more}` };
      }
      try {
        return {
          ...base,
          rendered: renderedOf(entry.result.app, entry, paths, intent.intent === 'running', links.get(id)),
        };
      } catch (e) {
        if (e instanceof UnitValueError) return { ...base, error: `${entry.file}: ${e.message}` };
        // Held, its last units kept, until the node has what it needs (a provider, a fact).
        if (e instanceof LinkError) return { ...base, error: `${id} ${e.message}` };
        throw e;
      }
    });
  return { apps };
}

function renderedOf(
  app: AppSpec,
  entry: CatalogApp,
  paths: Paths,
  startAtBoot: boolean,
  links: RenderLinks | undefined,
): RenderedApp {
  const dataDir = appDataDir(paths, app.id);
  const options = { startAtBoot, source: entry.file, appDir: entry.dir, dataDir, ...(links ? { links } : {}) };
  const files = renderApp(app, options).map(({ name, content }) => ({ name, content }));
  const hooks = hooksOf(app);
  return {
    files,
    version: app.manifest.version,
    ...snapshotVolumesOf(app),
    ...(hooks.length > 0 ? { hooks } : {}),
    containers: dependencyOrder(app).map((c) => ({
      service: c.service,
      file: `${c.unitBase}.container`,
      containerName: c.containerName,
      stopTimeoutSec: c.stopTimeoutSec,
      startTimeoutSec: c.startTimeoutSec,
      ...(c.build
        ? { image: c.build.imageTag, buildService: c.build.service, buildArgv: buildArgv(app, c, entry.dir) }
        : c.spec.image
          ? { image: c.spec.image, pull: c.spec.pull ?? 'missing' }
          : {}),
      readiness: c.spec.healthcheck !== undefined && c.spec.healthcheck.readiness !== false,
      hostPorts: (c.spec.ports ?? [])
        .filter((p) => p.hostPort !== undefined)
        .map((p) => ({ hostIp: p.hostIp ?? '', hostPort: p.hostPort!, protocol: p.protocol ?? 'tcp', range: 1 })),
      requires: c.hard,
      waitsFor: waitsFor(app, c, links),
      // Its own secrets only: a provider's are the provider's to generate.
      secrets: [
        ...new Set(
          [...Object.values(c.spec.secretEnvironment ?? {}), ...(c.spec.secretFiles ?? []).map((f) => f.secret)]
            .filter((s) => !s.includes('.'))
            .map((s) => app.names.secrets[s]!),
        ),
      ].sort(),
      bindFiles: [
        ...new Set((c.spec.binds ?? []).filter((b) => b.type === 'file').map((b) => bindPath(dataDir, b.source))),
      ].sort(),
      ...(c.spec.environmentFiles?.length
        ? { envFiles: [...new Set(c.spec.environmentFiles.map((f) => bindPath(entry.dir, f)))].sort() }
        : {}),
      ...(c.oneshot ? { oneshot: true as const } : {}),
      ...(c.templates.length > 0
        ? {
            templates: c.templates.map((t) => {
              const input = templateInput({ app, plan: c, spec: c.spec, options }, t.spec.template);
              return {
                secret: t.secret,
                template: join(entry.dir, t.spec.template),
                inputKey: input.key,
                secrets: input.secrets,
                facts: input.facts,
              };
            }),
          }
        : {}),
    })),
    services: serviceNames(app),
    secrets: Object.entries(app.manifest.secrets ?? {}).map(([name, s]) => ({
      name: app.names.secrets[name]!,
      key: name,
      ...(s.description ? { description: s.description } : {}),
      length: s.length ?? 32,
      alphabet: s.alphabet ?? 'alphanumeric',
    })),
    provides: Object.keys(app.manifest.provides ?? {}).sort(),
    needs: Object.entries(app.manifest.requires ?? {})
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([iface, r]) => {
        const p = links?.providers[iface];
        return { iface, optional: r.optional === true, ...(p ? { provider: p.app, service: p.service } : {}) };
      }),
    // A file bind's source is never made (a directory there would be mounted as an empty
    // folder): only the directory it sits in, so the user can put the file there.
    dataDirs: [
      ...new Set(
        app.manifest.containers.flatMap((c) =>
          (c.binds ?? [])
            .filter((b) => !b.source.startsWith('/'))
            .map((b) => (b.type === 'file' ? dirname(bindPath(dataDir, b.source)) : join(dataDir, b.source))),
        ),
      ),
    ].sort(),
  };
}

/** A bind's host path, as the renderer writes it: relative sources are under the app's data directory. */
function bindPath(dataDir: string, source: string): string {
  return source.startsWith('/') ? normalize(source) : join(dataDir, source);
}

/**
 * The providers a container waits for: those it is linked to, and those of the containers it
 * requires (hard), all the way down: mempool's web requires its api, which needs bitcoind, so
 * starting web while bitcoind is down would fail (Requires= pulls in api, whose Requisite= fails).
 * Optional links are not waited for: the app runs without them.
 */
function waitsFor(app: AppSpec, c: AppSpec['containers'][number], links: RenderLinks | undefined) {
  const byService = new Map(app.containers.map((x) => [x.service, x]));
  const seen = new Set<string>();
  const closure: Array<AppSpec['containers'][number]> = [];
  const visit = (x: AppSpec['containers'][number]) => {
    if (seen.has(x.service)) return;
    seen.add(x.service);
    closure.push(x);
    for (const dep of x.hard) if (byService.has(dep)) visit(byService.get(dep)!);
  };
  visit(c);
  const out = new Map<string, { iface: string; provider: string; service: string }>();
  for (const [iface, r] of Object.entries(app.manifest.requires ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const p = links?.providers[iface];
    if (!p || r.optional) continue;
    if (closure.some((x) => !r.containers || r.containers.includes(x.spec.name)))
      out.set(iface, { iface, provider: p.app, service: p.service });
  }
  return [...out.values()];
}

/** Containers with their dependencies (init containers included) first (the manifest has no cycles: validated). */
function dependencyOrder(app: AppSpec): AppSpec['containers'] {
  const byService = new Map(app.containers.map((c) => [c.service, c]));
  const done = new Set<string>();
  const out: AppSpec['containers'] = [];
  const visit = (service: string) => {
    if (done.has(service)) return;
    done.add(service);
    const c = byService.get(service)!;
    for (const dep of [...c.hard, ...c.soft].sort()) if (byService.has(dep)) visit(dep);
    out.push(c);
  };
  for (const c of app.containers) visit(c.service);
  return out;
}

/** Default time a hook may take. */
export const HOOK_TIMEOUT_SEC = 300;

/** The app's hooks as the supervisor runs them: podman exec in the named container, in a transient unit. */
function hooksOf(app: AppSpec): DesiredHook[] {
  const points = ['postInstall', 'postUpdate', 'postStart', 'preUninstall'] as const;
  return points.flatMap((point): DesiredHook[] => {
    const h = app.manifest.hooks?.[point];
    const c = h && app.containers.find((x) => x.spec.name === h.container);
    if (!h || !c) return [];
    const command = Array.isArray(h.command) ? h.command : ['/bin/sh', '-c', h.command];
    return [
      {
        point,
        unit: hookUnit(app.id, point),
        container: c.containerName,
        service: c.service,
        argv: ['podman', 'exec', ...(h.user ? ['--user', h.user] : []), c.containerName, ...command],
        timeoutSec: h.timeout !== undefined ? Math.ceil(durationMs(h.timeout) / 1000) : HOOK_TIMEOUT_SEC,
      },
    ];
  });
}

/** `archy-quadlet-hook-<app>-post-install.service`. */
export function hookUnit(app: string, point: string): string {
  return `archy-quadlet-hook-${app}-${point.replace(/[A-Z]/g, (x) => `-${x.toLowerCase()}`)}.service`;
}

/**
 * The `podman build` a container's .build unit runs (render-app.ts: ImageTag, File,
 * SetWorkingDirectory, Target, the ownership labels, PodmanArgs), for the build that comes
 * before an update's switch: the unit itself cannot run it then (Image=x.build makes the
 * container require it, so restarting it restarts the running app).
 */
function buildArgv(app: AppSpec, c: AppSpec['containers'][number], appDir: string): string[] {
  const b = c.spec.build!;
  const context = join(appDir, b.context);
  const args = Object.entries(b.args ?? {}).sort(([x], [y]) => (x < y ? -1 : 1));
  return [
    'podman',
    'build',
    '--tag',
    c.build!.imageTag,
    '--file',
    join(context, b.containerfile ?? 'Containerfile'),
    '--label',
    `${LABEL_APP}=${app.id}`,
    '--label',
    `${LABEL_MANAGED_BY}=archy-quadlet`,
    ...(b.target ? ['--target', b.target] : []),
    ...args.map(([k, v]) => `--build-arg=${k}=${v}`),
    context,
  ];
}

function snapshotVolumesOf(app: AppSpec): { snapshotVolumes?: string[] } {
  const names = Object.entries(app.manifest.volumes ?? {})
    .filter(([, v]) => v.snapshotBeforeUpdate === true)
    .map(([v]) => app.names.volumes[v]!.name)
    .sort();
  return names.length > 0 ? { snapshotVolumes: names } : {};
}
