import type { AppSpec, ContainerPlan } from '../manifest/app-spec.js';
import type { BindMountSpec, HealthcheckSpec, SelinuxLabel, VolumeMountSpec } from '../manifest/types.js';
import { durationMs, formatGoDuration, iecBytes } from '../manifest/measures.js';
import { argumentLine, descriptionText, jsonArrayValue, keyValueWord, quoteWord, rawValue } from './escape.js';
import { serializeSections, sha256, withHeader, type UnitEntry, type UnitSection } from './unit-file.js';

export interface RenderOptions {
  /** Start the app at boot ([Install] WantedBy=default.target). The supervisor turns it off for stopped apps. */
  startAtBoot: boolean;
  /** Where the manifest came from, as shown in each file's header. */
  source: string;
  /** Absolute folder of the app (build contexts are relative to it). */
  appDir: string;
  /** Absolute data directory of the app (relative bind sources are relative to it). */
  dataDir: string;
}

export interface RenderedFile {
  /** File name inside the app's unit directory, e.g. immich-server.container */
  name: string;
  content: string;
  sha256: string;
}

export const LABEL_APP = 'io.archipelago.app';
export const LABEL_MANAGED_BY = 'io.archipelago.managed-by';
/** systemd waits this much longer than the container's own stop timeout before it kills. */
export const STOP_TIMEOUT_MARGIN_SEC = 30;

/** Manifest → Quadlet files. Pure: same input, same bytes; files sorted by name. */
export function renderApp(app: AppSpec, options: RenderOptions): RenderedFile[] {
  const files: Array<{ name: string; sections: UnitSection[] }> = [];
  const ownLabels = ownershipLabels(app.id);
  if (app.names.networkUnit) {
    files.push({
      name: `${app.names.networkUnit}.network`,
      sections: [
        unitSection(`${app.manifest.name}: private network (archy-quadlet app ${app.id})`),
        { name: 'Network', entries: [['NetworkName', rawValue(app.names.networkName!)], ...ownLabels] },
      ],
    });
  }
  for (const [vol, names] of Object.entries(app.names.volumes)) {
    files.push({
      name: `${names.unit}.volume`,
      sections: [
        unitSection(`${app.manifest.name}: volume ${vol} (archy-quadlet app ${app.id})`),
        {
          name: 'Volume',
          entries: [['VolumeName', rawValue(names.name)], ...ownLabels, ...labelEntries(app.manifest.volumes?.[vol]?.labels)],
        },
      ],
    });
  }
  for (const c of app.containers) {
    if (c.build) files.push({ name: `${c.build.unitBase}.build`, sections: buildSections(app, c, options) });
    files.push({ name: `${c.unitBase}.container`, sections: containerSections(app, c, options) });
  }
  return files
    .map(({ name, sections }) => {
      const content = withHeader(serializeSections(sections), app.id, options.source);
      return { name, content, sha256: sha256(content) };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function unitSection(description: string, extra: UnitEntry[] = []): UnitSection {
  return { name: 'Unit', entries: [['Description', descriptionText(description)], ...extra] };
}

function ownershipLabels(appId: string): UnitEntry[] {
  return [
    ['Label', keyValueWord(LABEL_APP, appId)],
    ['Label', keyValueWord(LABEL_MANAGED_BY, 'archy-quadlet')],
  ];
}

function labelEntries(labels: Record<string, string> | undefined): UnitEntry[] {
  return Object.entries(labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => ['Label', keyValueWord(k, v)]);
}

function buildSections(app: AppSpec, c: ContainerPlan, o: RenderOptions): UnitSection[] {
  const b = c.spec.build!;
  const context = joinPath(o.appDir, b.context);
  const args = Object.entries(b.args ?? {}).sort(([x], [y]) => (x < y ? -1 : 1));
  return [
    unitSection(`${app.manifest.name}: build of ${c.spec.name} (archy-quadlet app ${app.id})`),
    {
      name: 'Build',
      entries: [
        ['ImageTag', rawValue(c.build!.imageTag)],
        ['File', rawValue(joinPath(context, b.containerfile ?? 'Containerfile'))],
        ['SetWorkingDirectory', rawValue(context)],
        ...(b.target ? [['Target', rawValue(b.target)] as const] : []),
        ...ownershipLabels(app.id),
        ...args.map(([k, v]): UnitEntry => ['PodmanArgs', quoteWord(`--build-arg=${k}=${v}`)]),
      ],
    },
    {
      name: 'Service',
      entries: [
        // A .build unit is not RemainAfterExit by default: without this, the image would
        // be rebuilt every time a dependent container starts.
        ['RemainAfterExit', 'yes'],
        ['TimeoutStartSec', String(c.startTimeoutSec)],
      ],
    },
  ];
}

function containerSections(app: AppSpec, c: ContainerPlan, o: RenderOptions): UnitSection[] {
  const s = c.spec;
  const unit: UnitEntry[] = [];
  for (const dep of c.hard) unit.push(['Requires', dep], ['After', dep]);
  for (const dep of c.soft) unit.push(['Wants', dep], ['After', dep]);
  // systemd restarts a crashing container quickly; a crash loop hits this limit and the
  // unit fails, after which the supervisor's own backoff takes over.
  unit.push(['StartLimitIntervalSec', '120'], ['StartLimitBurst', '5']);

  const ctr: UnitEntry[] = [['ContainerName', rawValue(c.containerName)]];
  if (c.build) ctr.push(['Image', rawValue(`${c.build.unitBase}.build`)]);
  else ctr.push(['Image', rawValue(s.image!)], ['Pull', s.pull ?? 'missing']);
  if (app.network === 'private') ctr.push(['Network', rawValue(`${app.names.networkUnit}.network`)]);
  else if (app.network === 'host' || app.network === 'none') ctr.push(['Network', app.network]);
  // On the app's network a container answers to its manifest name (`database`), not only to
  // its Podman name (`immich-database`), and to its extra aliases.
  if (app.network === 'private') {
    for (const alias of [...new Set([s.name, ...(s.networkAliases ?? [])])]) ctr.push(['NetworkAlias', rawValue(alias)]);
  }
  for (const p of s.ports ?? []) ctr.push(['PublishPort', rawValue(publishSpec(p.hostIp, p.hostPort ?? p.containerPort, p.containerPort, p.protocol))]);
  for (const v of s.volumes ?? []) ctr.push(['Volume', rawValue(volumeSpec(`${app.names.volumes[v.volume]!.unit}.volume`, v))]);
  for (const b of s.binds ?? []) ctr.push(['Volume', rawValue(volumeSpec(bindSource(b, o.dataDir), b))]);
  for (const t of s.tmpfs ?? []) {
    const opts = ['rw', ...(t.size ? [`size=${iecBytes(t.size)}`] : []), ...(t.mode ? [`mode=${t.mode}`] : [])];
    ctr.push(['Tmpfs', rawValue(`${t.target}:${opts.join(',')}`)]);
  }
  const env = Object.entries(s.environment ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  for (const [k, v] of env) ctr.push(['Environment', keyValueWord(k, String(v))]);
  for (const [k, secret] of Object.entries(s.secretEnvironment ?? {}).sort(([a], [b]) => (a < b ? -1 : 1))) {
    ctr.push(['Secret', quoteWord(`${app.names.secrets[secret]},type=env,target=${k}`)]);
  }
  for (const f of s.secretFiles ?? []) {
    const mode = (f.mode ?? '0400').padStart(4, '0');
    ctr.push(['Secret', quoteWord(`${app.names.secrets[f.secret]},type=mount,target=${f.target},uid=${f.uid ?? 0},gid=${f.gid ?? 0},mode=${mode}`)]);
  }
  if (s.capabilities?.podmanDefaults) {
    for (const cap of s.capabilities.drop ?? []) ctr.push(['DropCapability', capName(cap)]);
  } else {
    ctr.push(['DropCapability', 'all']);
  }
  for (const cap of s.capabilities?.add ?? []) ctr.push(['AddCapability', capName(cap)]);
  ctr.push(['NoNewPrivileges', s.noNewPrivileges === false ? 'false' : 'true']);
  if (s.readOnly) ctr.push(['ReadOnly', 'true']);
  for (const d of s.devices ?? []) ctr.push(['AddDevice', rawValue(`${d.host}:${d.container ?? d.host}:${d.permissions ?? 'rwm'}`)]);
  if (s.user) ctr.push(['User', rawValue(s.user)]);
  if (s.workingDir) ctr.push(['WorkingDir', rawValue(s.workingDir)]);
  if (s.entrypoint) ctr.push(['Entrypoint', jsonArrayValue(s.entrypoint)]);
  const exec = s.command && s.command.length > 0 ? argumentLine(s.command) : undefined;
  if (exec) ctr.push(['Exec', exec.line]);
  if (s.healthcheck) ctr.push(...healthEntries(s.healthcheck));
  ctr.push(['StopTimeout', String(c.stopTimeoutSec)]);
  if (s.stopSignal) ctr.push(['StopSignal', s.stopSignal]);
  ctr.push(...ownershipLabels(app.id), ...labelEntries(s.labels));
  if (s.memory) ctr.push(['PodmanArgs', quoteWord(`--memory=${iecBytes(s.memory)}`)]);

  const service: UnitEntry[] = [
    ['Restart', s.restart ?? 'always'],
    ['RestartSec', '2'],
    ['TimeoutStartSec', String(c.startTimeoutSec)],
    // Podman gets StopTimeout first; systemd must wait longer or it kills a bitcoind
    // mid-flush at its default 90 s.
    ['TimeoutStopSec', String(c.stopTimeoutSec + STOP_TIMEOUT_MARGIN_SEC)],
    // A deliberate stop of a PID 1 that ignores SIGTERM ends in 137 (or 143): not a failure.
    ['SuccessExitStatus', '137 143'],
    ...(exec?.serviceEnv ?? []),
  ];
  const sections: UnitSection[] = [
    unitSection(`${app.manifest.name}: ${s.name} (archy-quadlet app ${app.id})`, unit),
    { name: 'Container', entries: ctr },
    { name: 'Service', entries: service },
  ];
  if (o.startAtBoot) sections.push({ name: 'Install', entries: [['WantedBy', 'default.target']] });
  return sections;
}

function healthEntries(h: HealthcheckSpec): UnitEntry[] {
  // Always exec form, as JSON: Podman splits a ["CMD", ...] array on spaces and treats a
  // string starting with CMD or NONE as a keyword, so the shell form is spelled out.
  let argv: string[];
  if (h.http !== undefined) argv = ['/bin/sh', '-c', `wget -q -O /dev/null '${h.http}' || curl -fsS -o /dev/null '${h.http}'`];
  else if (h.tcp !== undefined) argv = ['/bin/sh', '-c', tcpCheck(h.tcp)];
  else if (Array.isArray(h.command)) argv = h.command;
  else argv = ['/bin/sh', '-c', h.command!];
  const cmd = jsonArrayValue(argv);
  const out: UnitEntry[] = [
    ['HealthCmd', cmd],
    ['HealthInterval', formatGoDuration(durationMs(h.interval ?? 30))],
    ['HealthTimeout', formatGoDuration(durationMs(h.timeout ?? 10))],
    ['HealthRetries', String(h.retries ?? 3)],
    ['HealthStartPeriod', formatGoDuration(durationMs(h.startPeriod ?? 0))],
    ['HealthOnFailure', h.onFailure ?? 'kill'],
  ];
  if (h.readiness !== false) out.push(['Notify', 'healthy']);
  return out;
}

/**
 * A TCP connect that works in most images: nc -z (OpenBSD/GNU netcat), busybox nc (no -z:
 * connect with stdin closed), or bash's /dev/tcp.
 */
export function tcpCheck(port: number): string {
  return `nc -z 127.0.0.1 ${port} 2>/dev/null || nc -w 2 127.0.0.1 ${port} </dev/null >/dev/null 2>&1 || bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port}' 2>/dev/null`;
}

function publishSpec(ip: string | undefined, host: number, container: number, proto: string | undefined): string {
  const bound = ip === undefined ? '' : ip.includes(':') ? `[${ip}]:` : `${ip}:`;
  return `${bound}${host}:${container}${proto === 'udp' ? '/udp' : ''}`;
}

function volumeSpec(source: string, m: VolumeMountSpec | BindMountSpec): string {
  const opts = [m.readOnly ? 'ro' : 'rw', ...(m.chown ? ['U'] : []), ...selinuxOpt(m.selinux)];
  return `${source}:${m.target}:${opts.join(',')}`;
}

function selinuxOpt(label: SelinuxLabel | undefined): string[] {
  return label === 'shared' ? ['z'] : label === 'private' ? ['Z'] : [];
}

function bindSource(b: BindMountSpec, dataDir: string): string {
  return b.source.startsWith('/') ? normalizePath(b.source) : joinPath(dataDir, b.source);
}

function capName(cap: string): string {
  return cap.startsWith('CAP_') ? cap : `CAP_${cap}`;
}

function joinPath(dir: string, rel: string): string {
  return normalizePath(rel === '.' || rel === '' ? dir : `${dir}/${rel}`);
}

function normalizePath(p: string): string {
  const parts = p.split('/').filter((x) => x !== '' && x !== '.');
  return `/${parts.join('/')}`;
}
