import type { AppSpec, ContainerPlan } from '../manifest/app-spec.js';
import type { PortSpec } from '../manifest/types.js';
import { parseRef } from '../graph/interface-ref.js';
import { LABEL_APP, LABEL_MANAGED_BY } from '../render/render-app.js';

/**
 * `archy-quadlet adopt` (issue 12), first step: compare a container that runs today as a plain
 * `podman run -d --restart=unless-stopped ...` with what the manifest renders for it, and say
 * whether replacing it by the app's Quadlet unit would lose anything. Pure: the caller runs
 * `podman inspect` and passes one parsed element; nothing here touches the host (so host paths
 * are compared as written, normalized, never resolved through symlinks).
 *
 * Refusals (problems) are what would leave data behind or make the same data unreadable: a
 * mount the manifest does not carry over, another image repository, another user or user
 * namespace. Everything else (another tag, other ports, other environment keys) is a note.
 */

/** The few fields of `podman inspect <container>` (Podman 5.x) that adoption reads. */
export interface ExistingContainer {
  name: string;
  /** `ImageName`: the reference the container was created from (falls back to Config.Image). */
  image: string;
  /** `Config.Env`, as a map. Holds the image's own variables too (PATH...), and maybe secrets. */
  env: Record<string, string>;
  /** `Config.User`; '' when the image's default user. */
  user: string;
  /** `HostConfig.UsernsMode`; '' when Podman's default (rootless: the user's own namespace). */
  userns: string;
  mounts: ExistingMount[];
  ports: ExistingPort[];
  /** `HostConfig.RestartPolicy`, as `--restart` takes it: unless-stopped, on-failure:3... */
  restartPolicy: string;
  /** `HostConfig.AutoRemove` (`podman run --rm`): stopping it would delete it. */
  autoRemove?: boolean;
  /** `State.Status`, e.g. running, exited. */
  state: string;
  labels: Record<string, string>;
}

export interface ExistingMount {
  type: 'volume' | 'bind' | 'tmpfs' | string;
  /** The volume's name (named or anonymous volumes only). */
  name?: string;
  /** A bind's host path; a volume's _data path; '' for a tmpfs. */
  source: string;
  destination: string;
  rw: boolean;
}

export interface ExistingPort {
  /** '' when published on every address. */
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: string;
}

export interface AdoptReport {
  container: string;
  image: { existing: string; manifest: string; sameRepository: boolean; sameTag: boolean };
  mounts: Array<{
    /** The volume's name or the bind's host path. */
    existing: string;
    destination: string;
    /**
     * The manifest field that carries it over (same destination, same volume or host path), e.g.
     * 'volumes[0] (volume data)' or 'binds[1]'; absent when its data would be left behind.
     */
    mappedTo?: string;
  }>;
  /** Existing mounts with no counterpart in the manifest: adopting would orphan their data. */
  unmapped: string[];
  /** Manifest mounts the old container did not have (a new, empty volume or directory). */
  missingInExisting: string[];
  ports: { same: string[]; onlyExisting: string[]; onlyManifest: string[] };
  /** Keys only, never values: they may hold secrets. */
  env: { onlyExisting: string[]; onlyManifest: string[] };
  user: { existing: string; manifest: string; same: boolean };
  /** The manifest renders no UserNS=: only '' or 'host' count as the same. */
  userns: { existing: string; same: boolean };
  /** Refusals, each a sentence naming the thing. */
  problems: string[];
  /** Differences that do not refuse. */
  notes: string[];
}

// ---------------------------------------------------------------------------------------------
// podman inspect → ExistingContainer

/**
 * One element of the array `podman inspect <container>` prints. Tolerant: a missing or
 * mistyped field reads as empty, so that an older or newer Podman gives a report (whose
 * comparison then refuses what it cannot confirm) rather than a crash.
 */
export function parseInspect(json: unknown): ExistingContainer {
  const root = obj(json);
  const config = obj(root.Config);
  const host = obj(root.HostConfig);
  const mounts: ExistingMount[] = arr(root.Mounts).map((m) => {
    const o = obj(m);
    const name = str(o.Name);
    return {
      type: str(o.Type),
      ...(name ? { name } : {}),
      source: str(o.Source),
      destination: str(o.Destination),
      // Podman always writes RW; a mount without it is taken as writable (the worse case).
      rw: o.RW !== false,
    };
  });
  // `--tmpfs` mounts are listed in HostConfig.Tmpfs, not in Mounts.
  for (const [dest, opts] of Object.entries(obj(host.Tmpfs))) {
    if (!mounts.some((m) => samePath(m.destination, dest)))
      mounts.push({ type: 'tmpfs', source: '', destination: dest, rw: !/(^|,)ro(,|$)/.test(str(opts)) });
  }
  const ports: ExistingPort[] = [];
  for (const [key, bindings] of Object.entries(obj(host.PortBindings))) {
    const [port = '', protocol = 'tcp'] = key.split('/');
    const containerPort = Number.parseInt(port, 10);
    if (!Number.isFinite(containerPort)) continue;
    for (const b of arr(bindings)) {
      const o = obj(b);
      const hostPort = Number.parseInt(str(o.HostPort), 10);
      ports.push({
        hostIp: str(o.HostIp),
        hostPort: Number.isFinite(hostPort) ? hostPort : 0,
        containerPort,
        protocol,
      });
    }
  }
  const env: Record<string, string> = {};
  for (const e of arr(config.Env)) {
    const s = str(e);
    const eq = s.indexOf('=');
    if (eq > 0) env[s.slice(0, eq)] = s.slice(eq + 1);
    else if (s) env[s] = '';
  }
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(config.Labels))) labels[k] = str(v);
  return {
    name: str(root.Name).replace(/^\//, ''),
    image: str(root.ImageName) || str(config.Image),
    env,
    user: str(config.User),
    userns: str(host.UsernsMode),
    mounts,
    ports,
    restartPolicy: restartPolicyOf(obj(host.RestartPolicy).Name, obj(host.RestartPolicy).MaximumRetryCount),
    ...(host.AutoRemove === true ? { autoRemove: true } : {}),
    state: str(obj(root.State).Status),
    labels,
  };
}

function obj(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

// ---------------------------------------------------------------------------------------------
// Comparison

/** A mount the manifest renders for the container, at one destination. */
interface WantMount {
  destination: string;
  /** The manifest field, as shown in reports. */
  field: string;
  kind: 'volume' | 'bind' | 'linked-volume' | 'tmpfs' | 'secret';
  /** Podman volume name, normalized host path, or what a user reads (tmpfs, secret X). */
  source: string;
  readOnly: boolean;
}

/**
 * Variables Podman or the image sets in every container: not the user's, so not reported as
 * only in the old container. The image's own others (its ENV lines) cannot be told apart
 * without inspecting the image; they show up as notes, never as refusals.
 */
const AMBIENT_ENV = new Set(['PATH', 'HOME', 'HOSTNAME', 'TERM', 'container']);

/** Where Podman mounts secrets (`--secret`): no data of the app lives there. */
const SECRETS_DIR = '/run/secrets';

export function compareContainer(
  existing: ExistingContainer,
  want: { app: AppSpec; plan: ContainerPlan; dataDir: string; importedSecrets?: ReadonlySet<string> },
): AdoptReport {
  const { app, plan } = want;
  const spec = plan.spec;
  const problems: string[] = [];
  const notes: string[] = [];

  // Image: the repository is what the data was written by; another tag is an upgrade or a
  // downgrade the user may want, so it is only said.
  const manifestImage = plan.build ? plan.build.imageTag : (spec.image ?? '');
  const ex = parseImageRef(existing.image);
  const mf = parseImageRef(manifestImage);
  const sameRepository = ex.repository === mf.repository;
  const sameTag = ex.tag === mf.tag;
  if (!sameRepository)
    problems.push(
      `image: the container runs ${existing.image || '(unknown image)'}, the manifest runs ${manifestImage}: another repository may not read the same data`,
    );
  else if (!sameTag) notes.push(`image: ${ex.tag} would be replaced by ${mf.tag} (same repository ${mf.repository})`);

  if (existing.name !== plan.containerName)
    notes.push(`name: the container ${existing.name} would be replaced by one named ${plan.containerName}`);

  // Mounts, matched by destination first; then the source must be the same volume or path.
  const wanted = wantMounts(app, plan, want.dataDir);
  const mounts: AdoptReport['mounts'] = [];
  const unmapped: string[] = [];
  const matched = new Set<WantMount>();
  for (const m of existing.mounts) {
    const dest = normalizePath(m.destination);
    const isVolume = m.type === 'volume';
    if (!isVolume && m.type !== 'bind') {
      notes.push(
        `mount ${dest} (${m.type || 'unknown type'}) is ignored: it holds no data that outlives the container`,
      );
      continue;
    }
    if (dest === SECRETS_DIR || dest.startsWith(`${SECRETS_DIR}/`)) {
      notes.push(`mount ${dest} is ignored: a secret, provided by the manifest's own secrets instead`);
      continue;
    }
    const label = isVolume ? (m.name ?? normalizePath(m.source)) : normalizePath(m.source);
    const what = isVolume ? `volume ${label}` : `host directory ${label}`;
    const w = wanted.find((x) => x.destination === dest);
    if (!w) {
      mounts.push({ existing: label, destination: dest });
      unmapped.push(`${what} → ${dest}`);
      problems.push(
        `${what} is mounted at ${dest}, and the manifest mounts nothing there: its data would be left behind`,
      );
      continue;
    }
    // The destination is the manifest's either way: it is no new, empty mount of the manifest.
    matched.add(w);
    if (w.kind === 'linked-volume') {
      // Another app's volume, named only once the app is linked: it cannot be compared here.
      // The manifest mounts it read-only, so what the old container wrote there would be lost.
      mounts.push({ existing: label, destination: dest, ...(m.rw ? {} : { mappedTo: w.field }) });
      if (m.rw)
        problems.push(
          `${what} is mounted writable at ${dest}, and the manifest mounts another app's volume there read-only (${w.field}): its data would be left behind`,
        );
      else notes.push(`${dest}: ${what} would be replaced by another app's volume (${w.field}), not compared here`);
      continue;
    }
    const same =
      (isVolume && w.kind === 'volume' && m.name === w.source) ||
      (!isVolume && w.kind === 'bind' && normalizePath(m.source) === w.source);
    // Mapped only when the data itself is carried over: same destination, same source.
    mounts.push({ existing: label, destination: dest, ...(same ? { mappedTo: w.field } : {}) });
    if (!same) {
      problems.push(
        `${dest} would be mounted from ${describeWant(w)} (${w.field}) instead of ${what}: its data would be left behind`,
      );
      continue;
    }
    if (m.rw === w.readOnly)
      notes.push(
        `${dest} would be mounted ${w.readOnly ? 'read-only' : 'writable'} (it is ${m.rw ? 'writable' : 'read-only'} today)`,
      );
  }
  const missingInExisting: string[] = [];
  for (const w of wanted) {
    if (matched.has(w) || (w.kind !== 'volume' && w.kind !== 'bind')) continue;
    const entry =
      w.kind === 'volume'
        ? `${w.field} → ${w.destination}: a new, empty volume ${w.source}`
        : `${w.field} → ${w.destination}: host directory ${w.source}, which the old container did not mount`;
    missingInExisting.push(entry);
    // What the old container wrote there stayed in its own layer, and goes with it.
    notes.push(`${entry} (nothing of the old container is carried over there)`);
  }

  // Ports: other published ports change what reaches the app, not its data.
  const existingPorts = existing.ports.map((p) => portKey(p.hostIp, p.hostPort, p.containerPort, p.protocol));
  const manifestPorts = (spec.ports ?? []).map(manifestPortKey);
  const ports = {
    same: unique(existingPorts.filter((p) => manifestPorts.includes(p))),
    onlyExisting: unique(existingPorts.filter((p) => !manifestPorts.includes(p))),
    onlyManifest: unique(manifestPorts.filter((p) => !existingPorts.includes(p))),
  };
  if (ports.onlyExisting.length > 0) notes.push(`ports no longer published: ${ports.onlyExisting.join(', ')}`);
  if (ports.onlyManifest.length > 0) notes.push(`ports newly published: ${ports.onlyManifest.join(', ')}`);

  // Environment: keys only, never a value (the old container may hold passwords in plain env).
  const plainEnv = spec.environment ?? {};
  const secretEnv = spec.secretEnvironment ?? {};
  const manifestKeys = new Set([...Object.keys(plainEnv), ...Object.keys(secretEnv)]);
  const existingKeys = Object.keys(existing.env).filter((k) => !AMBIENT_ENV.has(k));
  const env = {
    onlyExisting: existingKeys.filter((k) => !manifestKeys.has(k)).sort(),
    onlyManifest: [...manifestKeys].filter((k) => !(k in existing.env)).sort(),
  };
  if (env.onlyExisting.length > 0) notes.push(`environment keys no longer set: ${env.onlyExisting.join(', ')}`);
  if (env.onlyManifest.length > 0) notes.push(`environment keys newly set: ${env.onlyManifest.join(', ')}`);
  const changed = Object.entries(plainEnv)
    .filter(([k, v]) => k in existing.env && !String(v).includes('{{') && existing.env[k] !== String(v))
    .map(([k]) => k)
    .sort();
  if (changed.length > 0) notes.push(`environment values that change (not shown): ${changed.join(', ')}`);
  for (const [k, ref] of Object.entries(secretEnv).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!(k in existing.env)) continue;
    const r = parseRef(ref);
    // A secret the app owns is generated at install: its value would differ from the old one,
    // which data (a database's password) may depend on, unless the secret is made from it first.
    if ('own' in r && want.importedSecrets?.has(r.own))
      notes.push(
        `${k} would come from the secret ${app.names.secrets[r.own] ?? ref}, imported from the old node's file`,
      );
    else if ('own' in r)
      notes.push(
        `${k} would come from the secret ${app.names.secrets[r.own] ?? ref}, generated anew unless it is created first with the old value`,
      );
  }

  // User and user namespace: the files in the volumes belong to the old container's user, as
  // mapped by its namespace; another one may not read them.
  const manifestUser = spec.user ?? '';
  const user = { existing: existing.user, manifest: manifestUser, same: existing.user === manifestUser };
  if (!user.same)
    problems.push(
      `user: the container runs as ${existing.user || "the image's default user"}, the manifest as ${manifestUser || "the image's default user"}: the files it wrote may not be readable`,
    );
  const userns = { existing: existing.userns, same: existing.userns === '' || existing.userns === 'host' };
  if (!userns.same)
    problems.push(
      `user namespace: the container runs with --userns=${existing.userns}, the manifest with Podman's default: its files would belong to other ids`,
    );

  if (existing.autoRemove)
    problems.push(
      'the container was run with --rm: stopping it would delete it, and a rollback could not bring it back (re-create it without --rm first)',
    );
  if (existing.restartPolicy && existing.restartPolicy !== 'no')
    notes.push(
      `restart policy ${existing.restartPolicy}: set to no first (podman-restart would start it again at boot), and systemd restarts the app instead`,
    );
  if (existing.labels[LABEL_MANAGED_BY] === 'archy-quadlet')
    notes.push(`already labelled as managed by archy-quadlet (app ${existing.labels[LABEL_APP] ?? 'unknown'})`);

  return {
    container: existing.name,
    image: { existing: existing.image, manifest: manifestImage, sameRepository, sameTag },
    mounts,
    unmapped,
    missingInExisting,
    ports,
    env,
    user,
    userns,
    problems,
    notes,
  };
}

/** Every mount the manifest renders for the container, with its destination and source. */
function wantMounts(app: AppSpec, plan: ContainerPlan, dataDir: string): WantMount[] {
  const s = plan.spec;
  const out: WantMount[] = [];
  (s.volumes ?? []).forEach((v, i) => {
    const r = parseRef(v.volume);
    const own = 'own' in r ? app.names.volumes[r.own] : undefined;
    out.push({
      destination: normalizePath(v.target),
      field: `volumes[${i}] (volume ${v.volume})`,
      ...(own
        ? { kind: 'volume' as const, source: own.name, readOnly: v.readOnly === true }
        : { kind: 'linked-volume' as const, source: v.volume, readOnly: true }),
    });
  });
  (s.binds ?? []).forEach((b, i) => {
    // As the renderer does: an absolute source as written, a relative one under the data dir.
    const source = b.source.startsWith('/') ? normalizePath(b.source) : normalizePath(`${dataDir}/${b.source}`);
    out.push({
      destination: normalizePath(b.target),
      field: `binds[${i}]`,
      kind: 'bind',
      source,
      readOnly: b.readOnly === true,
    });
  });
  for (const [i, t] of (s.tmpfs ?? []).entries())
    out.push({
      destination: normalizePath(t.target),
      field: `tmpfs[${i}]`,
      kind: 'tmpfs',
      source: 'tmpfs',
      readOnly: false,
    });
  for (const [i, f] of (s.secretFiles ?? []).entries())
    out.push({
      destination: normalizePath(f.target),
      field: `secretFiles[${i}]`,
      kind: 'secret',
      source: `secret ${f.secret}`,
      readOnly: true,
    });
  for (const [i, t] of plan.templates.entries())
    out.push({
      destination: normalizePath(t.spec.target),
      field: `templates[${i}]`,
      kind: 'secret',
      source: `template ${t.spec.template}`,
      readOnly: true,
    });
  return out;
}

function describeWant(w: WantMount): string {
  switch (w.kind) {
    case 'volume':
      return `volume ${w.source}`;
    case 'bind':
      return `host directory ${w.source}`;
    case 'tmpfs':
      return 'a tmpfs';
    default:
      return w.source;
  }
}

/**
 * An image reference as repository and tag (or digest), with Docker's defaults spelled out
 * (docker.io, library/, latest), so that `lukechilds/electrumx` and
 * `docker.io/lukechilds/electrumx:latest` compare equal.
 */
export function parseImageRef(ref: string): { repository: string; tag: string } {
  let rest = ref.trim();
  let digest = '';
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag = '';
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  const hasRegistry = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasRegistry) {
    if (parts.length === 1) parts.unshift('library');
    parts.unshift('docker.io');
  }
  const shown = [tag, digest ? `@${digest}` : ''].filter(Boolean).join('');
  return { repository: parts.join('/').toLowerCase(), tag: shown || 'latest' };
}

/** `[ip:]hostPort:containerPort/proto`; every address ('' or 0.0.0.0) is written without ip. */
function portKey(hostIp: string, hostPort: number, containerPort: number, protocol: string): string {
  const ip = hostIp === '' || hostIp === '0.0.0.0' ? '' : hostIp.includes(':') ? `[${hostIp}]:` : `${hostIp}:`;
  return `${ip}${hostPort}:${containerPort}/${protocol || 'tcp'}`;
}

/** As the renderer publishes it (publishSpec): hostPort defaults to the container port. */
function manifestPortKey(p: PortSpec): string {
  return portKey(p.hostIp ?? '', p.hostPort ?? p.containerPort, p.containerPort, p.protocol ?? 'tcp');
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** Absolute, without '.', empty segments or a trailing '/': `/a//b/./` → `/a/b`. Not '..'. */
function normalizePath(p: string): string {
  return `/${p
    .split('/')
    .filter((x) => x !== '' && x !== '.')
    .join('/')}`;
}

function samePath(a: string, b: string): boolean {
  return normalizePath(a) === normalizePath(b);
}

// ---------------------------------------------------------------------------------------------
// Verdict and text

/** Adoption goes ahead only when no container of the app has a problem (and there is one). */
export function adoptVerdict(reports: AdoptReport[]): { ok: boolean; problems: string[] } {
  if (reports.length === 0) return { ok: false, problems: ['no existing container to adopt'] };
  const problems = reports.flatMap((r) => r.problems.map((p) => `${r.container}: ${p}`));
  return { ok: problems.length === 0, problems };
}

/** A few lines for `adopt --dry-run`. Never an environment value. */
export function formatAdoptReport(r: AdoptReport): string {
  const lines = [`${r.container}: ${r.problems.length === 0 ? 'can be adopted' : 'cannot be adopted'}`];
  lines.push(
    `  image: ${r.image.existing || '(unknown)'} → ${r.image.manifest}` +
      (r.image.sameRepository ? (r.image.sameTag ? ' (same)' : ' (other tag)') : ' (other repository)'),
  );
  for (const m of r.mounts)
    lines.push(
      `  mount: ${m.existing} → ${m.destination}: ${m.mappedTo ? `kept as ${m.mappedTo}` : 'NOT CARRIED OVER'}`,
    );
  if (r.ports.same.length > 0) lines.push(`  ports kept: ${r.ports.same.join(', ')}`);
  for (const p of r.problems) lines.push(`  problem: ${p}`);
  for (const n of r.notes) lines.push(`  note: ${n}`);
  return lines.join('\n');
}

/**
 * A restart policy as `podman run --restart` and `podman update --restart` take it: the name,
 * with on-failure's retry count when it has one (a rollback restores it whole).
 */
export function restartPolicyOf(name: unknown, maximumRetryCount: unknown): string {
  const n = typeof name === 'string' ? name : '';
  const count = typeof maximumRetryCount === 'number' ? maximumRetryCount : Number(maximumRetryCount);
  return n === 'on-failure' && Number.isInteger(count) && count > 0 ? `on-failure:${count}` : n;
}
