import type { UnitStatus } from '../supervise/types.js';

// `archy-quadlet explain`: from what could be observed of an app's units, the known causes
// of rootless Quadlet failures, each in a sentence with its fix. Pure.

export interface UnitEvidence {
  unit: string;
  /** The source file of the unit (web.container). */
  file: string;
  container?: string;
  status?: UnitStatus;
  /** From the desired state (what the manifest renders to); a built image's tag. */
  image?: string;
  pullNever: boolean;
  readiness: boolean;
  stopTimeoutSec?: number;
  hostPorts: number[];
  /** Units this one requires (Requires=). */
  requires: string[];
  /** Providers of the interfaces it needs (Requisite= + After=), and their state. */
  providers?: Array<{ iface: string; provider: string; activeState: string }>;
  /** Probes. */
  imagePresent?: boolean;
  missingSecrets: string[];
  portsInUse: number[];
  health?: { status: string; failingStreak: number; lastOutput?: string };
  /** The container's last exit, from Podman's events (systemd forgets it once the unit is stopped). */
  lastExit?: { code: number; atMs: number };
  /** What the generator said of this unit's file, if it refused it. */
  generatorError?: string;
  /** Recent log lines (journald), when there are any. */
  journal: string[];
}

export interface AppEvidence {
  app: string;
  units: UnitEvidence[];
  unprivilegedPortStart: number;
  subidsOk: boolean;
}

export interface Finding {
  unit: string;
  /**
   * The known signature: exit-125, unsupported-key, no-such-secret, short-name, rootlessport, newuidmap,
   * dependency, health, stop-timeout...
   */
  signature: string;
  cause: string;
  fix: string;
  /** The log line that matched, when a log said it. */
  evidence?: string;
}

const hasRegistry = (image: string) => {
  const first = image.split('/')[0]!;
  return image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
};

const JOURNAL_SIGNATURES: Array<[RegExp, string, string, string]> = [
  [
    /unsupported key/i,
    'unsupported-key',
    "the Quadlet generator refused a key in this unit's file, so systemd has no such unit",
    'archy-quadlet validate APP; correct the manifest; archy-quadlet reconcile',
  ],
  [
    /no such secret/i,
    'no-such-secret',
    'the container refers to a Podman secret that does not exist',
    'archy-quadlet reconcile (creates missing secrets)',
  ],
  [
    /short-name/i,
    'short-name',
    'the image is a short name and rootless Podman will not guess its registry',
    'use a fully qualified image reference (docker.io/library/NAME:TAG)',
  ],
  [
    /rootlessport/i,
    'rootlessport',
    'rootless Podman could not publish a port (in use, or below net.ipv4.ip_unprivileged_port_start)',
    'free the port, or publish one above ip_unprivileged_port_start',
  ],
  [
    /newuidmap|newgidmap|insufficient uids/i,
    'newuidmap',
    'the user has no usable subordinate uid/gid range',
    'sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER && podman system migrate',
  ],
  [/dependency/i, 'dependency', 'a unit this one requires failed', 'explain the failed dependency first'],
];

export function diagnose(e: AppEvidence): Finding[] {
  const out: Finding[] = [];
  const byUnit = new Map(e.units.map((u) => [u.unit, u]));
  for (const u of e.units) {
    const s = u.status;
    const add = (signature: string, cause: string, fix: string, evidence?: string) =>
      out.push({ unit: u.unit, signature, cause, fix, ...(evidence ? { evidence } : {}) });
    const notRunning = s?.activeState !== 'active';
    if (u.generatorError)
      add(
        /unsupported key/i.test(u.generatorError) ? 'unsupported-key' : 'generator',
        `the Quadlet generator refused ${u.file}: ${u.generatorError}; systemd has no ${u.unit}`,
        `archy-quadlet validate ${e.app}; correct the manifest, then archy-quadlet reconcile`,
      );
    else if (!s || s.loadState === 'not-found')
      add(
        'not-loaded',
        `systemd does not know ${u.unit}: its file is missing or systemd was not reloaded since`,
        'archy-quadlet reconcile',
      );
    for (const p of u.providers ?? []) {
      if (!notRunning || p.activeState === 'active' || p.activeState === 'activating') continue;
      add(
        'provider-down',
        `${u.unit} needs ${p.iface}, which ${p.provider} provides, and ${p.provider} is ${p.activeState === 'inactive' ? 'stopped' : p.activeState}: ` +
          'it waits (a dependent never starts its provider), and starts once the provider is up',
        `archy-quadlet start ${p.provider}`,
      );
    }
    for (const name of u.missingSecrets)
      add(
        'no-such-secret',
        `Podman has no secret "${name}": the container cannot start ("no such secret", exit 125)`,
        'archy-quadlet reconcile (creates it: a new value, so restore the old one first if data depends on it)',
      );
    if (notRunning && u.image && u.imagePresent === false) {
      if (!hasRegistry(u.image))
        add(
          'short-name',
          `the image "${u.image}" is a short name: rootless Podman will not guess a registry`,
          'use a fully qualified reference (docker.io/library/NAME:TAG)',
        );
      else if (u.pullNever)
        add(
          'image-missing',
          `the image "${u.image}" is not in this user's store and the unit never pulls (Pull=never)`,
          `podman pull ${u.image} (or build it), then archy-quadlet start ${e.app}`,
        );
      else
        add(
          'image-missing',
          `the image "${u.image}" is not in this user's store and was not pulled ` +
            '(wrong reference, or no registry reachable)',
          `podman pull ${u.image} shows why; check the reference`,
        );
    }
    if (notRunning && !e.subidsOk)
      add(
        'newuidmap',
        'the user has no subordinate uid/gid range: newuidmap fails and images cannot be unpacked',
        'sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER && podman system migrate',
      );
    for (const p of u.hostPorts.filter((x) => x < e.unprivilegedPortStart))
      add(
        'rootlessport',
        `port ${p} is below net.ipv4.ip_unprivileged_port_start=${e.unprivilegedPortStart}: ` +
          'rootlessport cannot bind it',
        `publish a port >= ${e.unprivilegedPortStart}, or lower ip_unprivileged_port_start (sysctl)`,
      );
    for (const p of notRunning ? u.portsInUse : [])
      add(
        'rootlessport',
        `port ${p} is already in use by something else: rootlessport cannot bind it`,
        `free port ${p} (ss -ltnp 'sport = :${p}') or change the app's hostPort`,
      );
    const failedDeps = u.requires.filter((d) => byUnit.get(d)?.status?.activeState === 'failed');
    if (notRunning && failedDeps.length)
      add(
        'dependency',
        `a unit it requires failed: ${failedDeps.join(', ')}`,
        "explain that unit's failure first; this one starts after it",
      );
    if (
      u.readiness &&
      s &&
      (s.activeState === 'activating' || s.result === 'timeout') &&
      s.subState !== 'auto-restart' &&
      s.subState !== 'stop-sigterm'
    ) {
      const h = u.health;
      const last = h?.lastOutput?.trim() ? `; last output: ${h.lastOutput.trim().split('\n')[0]!.slice(0, 200)}` : '';
      const tries = h ? ` (${h.status}, ${h.failingStreak} failure(s) in a row${last})` : '';
      const verdict =
        s.result === 'timeout'
          ? 'the health check never passed within the start timeout'
          : 'the health check has not passed yet';
      add(
        'health',
        `${verdict}, so the unit (Notify=healthy) is not ready${tries}`,
        `podman logs ${u.container ?? 'CONTAINER'} shows what the app says; ` +
          'check the health check, or raise startPeriod/startTimeout if it is only slow',
      );
    }
    const fromSystemd = s && s.execMainStatus !== 0 && s.execMainStartMono > 0 ? s.execMainStatus : 0;
    // Podman's memory of the last exit speaks only for a unit that is down: a starting unit's
    // last exit belongs to a container that is gone.
    const down = s?.activeState === 'inactive' || s?.activeState === 'failed';
    const code = fromSystemd || (down && u.lastExit ? u.lastExit.code : 0);
    if (s && code !== 0) {
      if (code === 125)
        add(
          'exit-125',
          'podman itself failed to run the container (exit 125): an image, secret, mount or port problem',
          "the findings above, or the unit's log (journalctl --user -u UNIT), name it",
        );
      else if (code === 126)
        add(
          'exit-126',
          'the container command could not be invoked (exit 126): not executable, or a permission problem',
          'check command/entrypoint and the file modes in the image',
        );
      else if (code === 127)
        add(
          'exit-127',
          'the container command was not found in the image (exit 127)',
          'check command/entrypoint against the image',
        );
      else if (code === 137)
        add(
          s.result === 'success' ? 'stop-timeout' : 'exit-137',
          s.result === 'success'
            ? 'its last stop ended with SIGKILL (exit 137): ' +
                `PID 1 ignored SIGTERM for the whole stop timeout (${u.stopTimeoutSec ?? '?'} s)`
            : 'it was killed with SIGKILL (exit 137): out of memory, or a stop that timed out',
          s.result === 'success'
            ? 'make PID 1 handle SIGTERM (an init), or raise stopTimeout if it needs longer to stop cleanly'
            : 'raise the memory limit if it ran out; podman inspect shows OOMKilled',
        );
      else if (code === 143)
        add('exit-143', 'it ended on SIGTERM (exit 143): it was stopped', 'nothing, if it was stopped on purpose');
      else if (s.result === 'exit-code')
        add(
          `exit-${code}`,
          `the app exited with status ${code}`,
          `podman logs ${u.container ?? 'CONTAINER'} (while it exists) or the unit's log says why`,
        );
    }
    if (s?.result === 'start-limit-hit')
      add(
        'start-limit',
        'it crashed too often in a short time and systemd stopped restarting it',
        'the supervisor starts it again with a growing backoff; the causes above, or its log, say why it crashes',
      );
    for (const line of u.journal) {
      for (const [re, signature, cause, fix] of JOURNAL_SIGNATURES) {
        if (re.test(line) && !out.some((f) => f.unit === u.unit && f.signature === signature))
          add(signature, cause, fix, line.trim().slice(0, 300));
      }
    }
  }
  return out;
}
