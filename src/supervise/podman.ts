import { LABEL_APP, LABEL_MANAGED_BY } from '../render/render-app.js';
import type { HostPort, ObservedContainer } from './types.js';
import { restartPolicyOf } from '../adopt/compare-container.js';

/** A container's health check, as `podman inspect` reports it. */
export interface ContainerHealth {
  status: string;
  failingStreak: number;
  /** What the last check printed. */
  lastOutput?: string;
}

/**
 * The few Podman operations archy-quadlet needs beyond what systemd does: the supervisor's,
 * and the read-only probes of `explain` and `doctor` (so every Podman call goes through here).
 */
export interface Podman {
  /** Our secrets (by label), name → app. */
  secrets(): Promise<Record<string, string>>;
  /** Every secret name of the user, ours or not: what a container's Secret= can find. */
  secretNames(): Promise<Set<string>>;
  /** Creates a secret and returns its Podman id; the value reaches podman through its environment, never a command line. */
  createSecret(name: string, app: string, value: string): Promise<string>;
  removeSecret(name: string): Promise<void>;
  /** A secret's value, for the template adapter alone (never logged, printed or kept). */
  secretValue(name: string): Promise<string>;
  /** Creates or replaces a secret holding a rendered template, labelled with the key of its inputs. */
  putTemplateSecret(name: string, app: string, value: string, inputKey: string): Promise<void>;
  /** Every volume of the user by name → its app, '' for a volume archy-quadlet did not label (an adopted one, say). */
  volumes(): Promise<Record<string, string>>;
  removeVolume(name: string): Promise<void>;
  /** Every container of the user (not only ours: one of another name owner can be in the way), by name. */
  containers(): Promise<Record<string, ObservedContainer>>;
  /** One app's containers: state and health (from `podman ps`). */
  appContainers(app: string): Promise<Record<string, { state: string; health?: string }>>;
  imageExists(ref: string): Promise<boolean>;
  networks(): Promise<Record<string, string>>;
  removeNetwork(name: string): Promise<void>;
  /** Images built for our apps (a `.build` unit labels them), id → app. */
  images(): Promise<Record<string, string>>;
  /** The images built for one of our apps: their tags, and how many containers (any state) use each. */
  appImages(app: string): Promise<Array<{ id: string; tags: string[]; containers: number }>>;
  removeImage(id: string): Promise<void>;
  removeContainer(name: string): Promise<void>;
  /** `podman inspect` of these containers (those that exist), as Podman prints each: for adopt. */
  inspectContainers(names: string[]): Promise<unknown[]>;
  /** Sets a container's restart policy (`podman update --restart`). */
  setRestartPolicy(container: string, policy: string): Promise<void>;
  renameContainer(from: string, to: string): Promise<void>;
  /** Starts a stopped container (Podman's own start: for an old container a rollback returns). */
  startContainer(name: string): Promise<void>;
  /** `podman volume export` into a file (created 0600 by the caller's umask-independent rename). */
  exportVolume(name: string, file: string): Promise<void>;
  /** Empties a volume (inside the user namespace: its files belong to the container's users) and imports a tar into it. */
  restoreVolume(name: string, file: string): Promise<void>;
  /** Points a tag at an image id (`podman tag`): an update's rollback restores the image that ran. */
  tagImage(id: string, ref: string): Promise<void>;
  /**
   * Enters the shared rootless network namespace and leaves (`podman unshare --rootless-netns
   * true`): Podman starts its pasta again when it finds it gone (measured, Podman 5.4).
   */
  enterRootlessNetns(): Promise<void>;
  /** `podman network reload` of one container: netavark sets its network up again, and starts aardvark-dns when it is gone. */
  reloadNetwork(container: string): Promise<void>;
  /**
   * Creates (or replaces) one of our secrets from a file's exact bytes: Podman reads the file
   * itself, so nothing of the value passes through this process.
   */
  importSecret(name: string, app: string, file: string): Promise<string>;
  /** A container's health check; undefined when it has none. Throws when there is no such container. */
  health(container: string): Promise<ContainerHealth | undefined>;
  /** The container's last exit in the past day (Podman's `died` events outlive the unit's state). */
  lastExit(container: string): Promise<{ code: number; atMs: number } | undefined>;
  /** `podman --version`, e.g. `podman version 5.4.2`. */
  version(): Promise<string>;
}

/** On a secret holding a rendered template: the key of the inputs it was rendered from. */
export const LABEL_TEMPLATE_INPUT = 'io.archipelago.template-input';

/** Probes only read: bounded, so that a hung Podman cannot hang `explain` or `doctor`. */
const PROBE_TIMEOUT_MS = 20_000;

const MANAGED = `label=${LABEL_MANAGED_BY}=archy-quadlet`;

export function podmanCli(bin = 'podman'): Podman {
  const run = async (args: string[], env?: Record<string, string>, timeout = 60_000) => {
    const { execa } = await import('execa'); // loaded only when a pass needs Podman
    const r = await execa(bin, args, { timeout, reject: false, stdin: 'ignore', ...(env ? { env } : {}) });
    if (r.exitCode !== 0)
      throw new Error(`podman ${args[0]} ${args[1] ?? ''}: ${String(r.stderr || r.shortMessage).trim()}`);
    return r.stdout;
  };
  const byLabel = (
    json: string,
    nameOf: (x: Record<string, unknown>) => string,
    labelsOf: (x: Record<string, unknown>) => unknown,
  ) => {
    const out: Record<string, string> = {};
    for (const x of (JSON.parse(json || '[]') as Array<Record<string, unknown>>) ?? []) {
      const labels = (labelsOf(x) ?? {}) as Record<string, string>;
      if (labels[LABEL_MANAGED_BY] === 'archy-quadlet' && labels[LABEL_APP]) out[nameOf(x)] = labels[LABEL_APP];
    }
    return out;
  };
  const secretNames = async (timeout?: number) =>
    (await run(['secret', 'ls', '--noheading', '--format', '{{.Name}}'], undefined, timeout))
      .split('\n')
      .map((x) => x.trim())
      .filter(Boolean);
  return {
    async secrets() {
      // podman 5.4's `secret ls` has neither a label filter nor JSON output: names, then inspect.
      const names = await secretNames();
      if (names.length === 0) return {};
      const inspected = await run(['secret', 'inspect', ...names]);
      return byLabel(
        inspected,
        (x) => String((x.Spec as Record<string, unknown>)?.Name ?? ''),
        (x) => (x.Spec as Record<string, unknown>)?.Labels,
      );
    },
    async createSecret(name, app, value) {
      // Through the environment of this one podman process (readable only by its owner):
      // never on a command line, never in a file. (`-` for stdin refuses Node's socket pipes.)
      const out = await run(
        [
          'secret',
          'create',
          '--env',
          '--label',
          `${LABEL_APP}=${app}`,
          '--label',
          `${LABEL_MANAGED_BY}=archy-quadlet`,
          name,
          'ARCHY_QUADLET_SECRET_VALUE',
        ],
        {
          ARCHY_QUADLET_SECRET_VALUE: value,
        },
      );
      return out.trim(); // `podman secret create` prints the new secret's id
    },
    async removeSecret(name) {
      await run(['secret', 'rm', name]);
    },
    async secretValue(name) {
      // JSON: the value exactly (a --format template adds a newline of its own).
      const doc = JSON.parse(await run(['secret', 'inspect', '--showsecret', name])) as Array<{ SecretData?: string }>;
      const value = doc[0]?.SecretData;
      if (typeof value !== 'string') throw new Error(`podman secret inspect ${name}: no value`);
      return value;
    },
    async putTemplateSecret(name, app, value, inputKey) {
      // As createSecret: the value through this one process's environment. --replace gives the
      // secret a new id; containers created before keep the old value until restarted.
      await run(
        [
          'secret',
          'create',
          '--replace',
          '--env',
          '--label',
          `${LABEL_APP}=${app}`,
          '--label',
          `${LABEL_MANAGED_BY}=archy-quadlet`,
          '--label',
          `${LABEL_TEMPLATE_INPUT}=${inputKey}`,
          name,
          'ARCHY_QUADLET_SECRET_VALUE',
        ],
        { ARCHY_QUADLET_SECRET_VALUE: value },
      );
    },
    async volumes() {
      const all = JSON.parse((await run(['volume', 'ls', '--format', 'json'])) || '[]') as Array<
        Record<string, unknown>
      >;
      const ours = byLabel(
        JSON.stringify(all),
        (x) => String(x.Name),
        (x) => x.Labels,
      );
      return Object.fromEntries(all.map((x) => [String(x.Name), ours[String(x.Name)] ?? '']));
    },
    async removeVolume(name) {
      // Without --force, which would remove every container using the volume with it: one of
      // another app's (lnd's data mounted by btcpay) or one archy-quadlet does not own. A
      // volume in use fails the step, with Podman's list of its users, until it is free.
      await run(['volume', 'rm', name]);
    },
    async containers() {
      const out: Record<string, ObservedContainer> = {};
      for (const x of (JSON.parse((await run(['ps', '--all', '--format', 'json'])) || '[]') as Array<
        Record<string, unknown>
      >) ?? []) {
        const labels = (x.Labels ?? {}) as Record<string, string>;
        const app = labels[LABEL_MANAGED_BY] === 'archy-quadlet' ? labels[LABEL_APP] : undefined;
        const ports = ((x.Ports ?? []) as Array<Record<string, unknown>>).map(
          (p): HostPort => ({
            hostIp: String(p.host_ip ?? ''),
            hostPort: Number(p.host_port),
            protocol: String(p.protocol ?? 'tcp'),
            range: Number(p.range ?? 1) || 1,
          }),
        );
        out[String((x.Names as string[])?.[0] ?? '')] = {
          ...(app ? { app } : {}),
          state: String(x.State ?? 'unknown'),
          ports,
        };
      }
      return out;
    },
    async appContainers(app) {
      const list = JSON.parse(
        (await run([
          'ps',
          '--all',
          '--filter',
          `label=${LABEL_APP}=${app}`,
          '--filter',
          MANAGED,
          '--format',
          'json',
        ])) || '[]',
      ) as Array<{ Names?: string[]; State?: string; Status?: string }>;
      const out: Record<string, { state: string; health?: string }> = {};
      for (const c of list) {
        const health = /\((healthy|unhealthy|starting)\)/.exec(c.Status ?? '')?.[1];
        out[c.Names?.[0] ?? ''] = { state: c.State ?? 'unknown', ...(health ? { health } : {}) };
      }
      return out;
    },
    async imageExists(ref) {
      const { execa } = await import('execa');
      return (
        (await execa(bin, ['image', 'exists', ref], { reject: false, timeout: 20_000, stdin: 'ignore' })).exitCode === 0
      );
    },
    async networks() {
      return byLabel(
        await run(['network', 'ls', '--filter', MANAGED, '--format', 'json']),
        (x) => String(x.name),
        (x) => x.labels,
      );
    },
    async removeNetwork(name) {
      // Without --force: a network some container still uses is not ours to break.
      await run(['network', 'rm', name]).catch((e: Error) => {
        if (!/network not found|no such network/i.test(e.message)) throw e;
      });
    },
    async images() {
      return byLabel(
        await run(['images', '--all', '--filter', MANAGED, '--format', 'json']),
        (x) => String(x.Id),
        (x) => x.Labels,
      );
    },
    async appImages(app) {
      const json = await run([
        'images',
        '--filter',
        MANAGED,
        '--filter',
        `label=${LABEL_APP}=${app}`,
        '--format',
        'json',
      ]);
      return (JSON.parse(json || '[]') as Array<Record<string, unknown>>).map((x) => ({
        id: String(x.Id),
        tags: Array.isArray(x.Names) ? x.Names.map(String) : [],
        // Unknown counts as in use: an image is removed only when Podman says none uses it.
        containers: typeof x.Containers === 'number' ? x.Containers : 1,
      }));
    },
    async removeImage(id) {
      // By id, an image with several tags (each build of a context is tagged anew; the same
      // content again is the same image) is refused without --force, and --force would also
      // remove containers that use it: its tags go first.
      await run(['untag', id]).catch((e: Error) => {
        if (!/image not known/i.test(e.message)) throw e;
      });
      await run(['image', 'rm', '--ignore', id]);
    },
    async removeContainer(name) {
      await run(['rm', '--force', '--ignore', name]);
    },
    async inspectContainers(names) {
      if (names.length === 0) return [];
      const existing = new Set((await run(['ps', '--all', '--format', '{{.Names}}'])).split('\n').map((x) => x.trim()));
      const found = names.filter((n) => existing.has(n));
      if (found.length === 0) return [];
      return JSON.parse((await run(['container', 'inspect', ...found])) || '[]') as unknown[];
    },
    async setRestartPolicy(container, policy) {
      const want = policy || 'no';
      const current = async () => {
        const [name, count] = (
          await run([
            'inspect',
            '--type',
            'container',
            '--format',
            '{{.HostConfig.RestartPolicy.Name}}|{{.HostConfig.RestartPolicy.MaximumRetryCount}}',
            container,
          ])
        )
          .split('|')
          .map((x) => x.trim());
        return restartPolicyOf(name, count) || 'no';
      };
      // Set already (by an earlier step of the same adoption): nothing to do. `podman update`
      // of a container that has just exited can fail in runc ("container not running").
      if ((await current()) === want) return;
      try {
        await run(['update', '--restart', want, container]);
      } catch (e) {
        if ((await current()) !== want) throw e;
      }
    },
    async renameContainer(from, to) {
      await run(['rename', from, to]);
    },
    async startContainer(name) {
      await run(['start', name]);
    },
    async exportVolume(name, file) {
      await run(['volume', 'export', '--output', file, name], undefined, 3_600_000);
    },
    async restoreVolume(name, file) {
      // Emptied, not re-created: a new volume would lose its root's owner and mode. Import
      // alone would merge, leaving files the failed version made.
      const mount = (await run(['volume', 'inspect', '--format', '{{.Mountpoint}}', name])).trim();
      if (!mount.startsWith('/')) throw new Error(`volume ${name} has no mount point`);
      await run(['unshare', 'find', mount, '-mindepth', '1', '-delete'], undefined, 600_000);
      await run(['volume', 'import', name, file], undefined, 3_600_000);
    },
    async tagImage(id, ref) {
      await run(['tag', id, ref]);
    },
    async enterRootlessNetns() {
      await run(['unshare', '--rootless-netns', 'true']);
    },
    async reloadNetwork(container) {
      await run(['network', 'reload', container]);
    },
    async importSecret(name, app, file) {
      const out = await run([
        'secret',
        'create',
        '--replace',
        '--label',
        `${LABEL_APP}=${app}`,
        '--label',
        `${LABEL_MANAGED_BY}=archy-quadlet`,
        name,
        file,
      ]);
      return out.trim();
    },
    async secretNames() {
      return new Set(await secretNames(PROBE_TIMEOUT_MS));
    },
    async health(container) {
      type Health = { Status?: string; FailingStreak?: number; Log?: Array<{ Output?: string }> };
      const args = ['inspect', '--type', 'container', '--format', 'json', container];
      const json = await run(args, undefined, PROBE_TIMEOUT_MS);
      const h = (JSON.parse(json || '[]') as Array<{ State?: { Health?: Health } }>)[0]?.State?.Health;
      if (!h?.Status) return undefined;
      const last = h.Log?.at(-1);
      const failingStreak = h.FailingStreak ?? 0;
      return { status: h.Status, failingStreak, ...(last ? { lastOutput: last.Output ?? '' } : {}) };
    },
    async lastExit(container) {
      const filters = ['--filter', `container=${container}`, '--filter', 'event=died'];
      const args = ['events', '--stream=false', '--since', '24h', ...filters, '--format', 'json'];
      const last = (await run(args, undefined, PROBE_TIMEOUT_MS)).trim().split('\n').filter(Boolean).pop();
      const died = last ? (JSON.parse(last) as { ContainerExitCode?: number; timeNano?: number }) : undefined;
      if (died?.ContainerExitCode === undefined) return undefined;
      return { code: died.ContainerExitCode, atMs: Math.round((died.timeNano ?? 0) / 1e6) };
    },
    async version() {
      return (await run(['--version'], undefined, PROBE_TIMEOUT_MS)).trim();
    },
  };
}
