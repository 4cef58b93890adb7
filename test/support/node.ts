import { afterAll, beforeAll } from 'vitest';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { get } from 'node:http';
import { execa } from 'execa';
import { AS_USER, LAB_DIR } from './lab.js';
import { asUser, chownTree, labUser, waitFor, type LabUser } from './lab-user.js';

// A node in the lab: the installed archy-quadlet, run as the lab user, on the busybox
// test catalog (test/lab-apps, copied somewhere the user can read).

export interface LabNode {
  user: LabUser;
  appsDir: string;
  unitRoot: string;
  stateDir: string;
  aq(
    args: string[],
    opts?: { reject?: boolean; timeout?: number },
  ): Promise<{ exitCode: number; stdout: string; stderr: string }>;
  status(app: string): Promise<AppStatus | undefined>;
  cleanup(): Promise<void>;
}

export interface AppStatus {
  id: string;
  desired: string;
  state: string;
  converged: boolean;
  units: Array<{
    unit: string;
    state: string;
    activeState: string;
    subState: string;
    result: string;
    restarts: number;
    failure?: string;
  }>;
  lastFailure?: string;
  held?: string[];
}

export async function labNode(): Promise<LabNode> {
  const user = labUser();
  const installed = await asUser(['bash', '-c', 'command -v archy-quadlet'], { reject: false });
  if (installed.exitCode !== 0)
    throw new Error('archy-quadlet is not installed for the lab user: run `make lab-install` (as root)');
  const appsDir = mkdtempSync('/tmp/aq-lab-apps-');
  cpSync(new URL('../lab-apps', import.meta.url), appsDir, { recursive: true });
  chownTree(appsDir, user);
  const node: LabNode = {
    user,
    appsDir,
    unitRoot: join(user.home, '.config/containers/systemd/archy-quadlet'),
    stateDir: join(user.home, '.local/state/archy-quadlet'),
    async aq(args, opts = {}) {
      const r = await asUser(['env', `ARCHY_QUADLET_APPS=${appsDir}`, 'archy-quadlet', ...args], {
        reject: false,
        timeout: opts.timeout ?? 120_000,
      });
      if (opts.reject !== false && r.exitCode !== 0) {
        throw new Error(`archy-quadlet ${args.join(' ')} exited ${r.exitCode}\n${r.stdout}\n${r.stderr}`);
      }
      return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
    },
    async status(app) {
      const r = await node.aq(['status', '--json']);
      return (JSON.parse(r.stdout) as { apps: AppStatus[] }).apps.find((a) => a.id === app);
    },
    async cleanup() {
      await resetNode(user);
      rmSync(appsDir, { recursive: true, force: true });
    },
  };
  await resetNode(user);
  return node;
}

/** Removes everything archy-quadlet made for the lab user: units, containers, volumes, secrets, state. */
export async function resetNode(user: LabUser): Promise<void> {
  const script = `
    set +e
    systemctl --user disable --now archy-quadlet-reconcile.timer archy-quadlet-watch.service >/dev/null 2>&1
    rm -f $HOME/.config/systemd/user/archy-quadlet-*
    root=$HOME/.config/containers/systemd/archy-quadlet
    units=$(for f in $(find "$root" -type f 2>/dev/null); do b=$(basename "$f"); case $b in
      *.container) echo "\${b%.container}.service";; *.network) echo "\${b%.network}-network.service";;
      *.volume) echo "\${b%.volume}-volume.service";; *.build) echo "\${b%.build}-build.service";; esac; done)
    [ -n "$units" ] && systemctl --user kill --signal=SIGKILL $units >/dev/null 2>&1
    [ -n "$units" ] && timeout 60 systemctl --user stop $units >/dev/null 2>&1
    systemctl --user kill --signal=SIGKILL 'archy-quadlet-hook-*' >/dev/null 2>&1
    timeout 30 systemctl --user stop 'archy-quadlet-hook-*' >/dev/null 2>&1
    rm -rf "$root" "$HOME/.local/state/archy-quadlet" "$XDG_RUNTIME_DIR/archy-quadlet.lock"
    systemctl --user daemon-reload
    systemctl --user reset-failed >/dev/null 2>&1
    f=label=io.archipelago.managed-by=archy-quadlet
    podman ps -aq --filter $f | xargs -r podman rm -f -t 0 >/dev/null 2>&1
    podman volume ls -q --filter $f | xargs -r podman volume rm -f >/dev/null 2>&1
    # Images our .build units made: a test must not find one left by another (a build then skipped).
    podman images -q --filter $f | sort -u | xargs -r podman rmi -f >/dev/null 2>&1
    for s in $(podman secret ls --noheading --format '{{.Name}}'); do
      podman secret inspect "$s" --format '{{index .Spec.Labels "io.archipelago.managed-by"}}' | grep -q archy-quadlet && podman secret rm "$s" >/dev/null
    done
    true`;
  await execa(AS_USER, ['bash', '-c', script], { cwd: '/', timeout: 120_000, stdin: 'ignore' });
  void user;
}

/**
 * GET http://127.0.0.1:port/path; undefined when nothing answers (or not 2xx). Lenient like
 * curl: busybox CGI ends header lines with a bare LF, which fetch (undici) refuses.
 */
export function http(port: number, path = '/'): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, insecureHTTPParser: true, timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(res.statusCode && res.statusCode < 300 ? body : undefined));
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

export async function waitHttp(port: number, path = '/', timeoutMs = 60_000): Promise<string> {
  return waitFor(`http://127.0.0.1:${port}${path} to answer`, () => http(port, path), timeoutMs, 250);
}

export async function waitClosed(port: number, timeoutMs = 60_000): Promise<void> {
  await waitFor(
    `port ${port} to be released`,
    async () => ((await http(port)) === undefined ? true : undefined),
    timeoutMs,
    250,
  );
}

export async function containers(): Promise<string[]> {
  const r = await asUser(['podman', 'ps', '-a', '--format', '{{.Names}}']);
  return String(r.stdout).split('\n').filter(Boolean).sort();
}

export async function containerId(name: string): Promise<string | undefined> {
  const r = await asUser(['podman', 'inspect', '--format', '{{.Id}}', name], { reject: false });
  return r.exitCode === 0 ? String(r.stdout).trim() : undefined;
}

export async function reboot(): Promise<void> {
  await execa(join(LAB_DIR, 'reboot'), [], { timeout: 180_000, stdin: 'ignore' });
}

/**
 * A lab node for one test file: made fresh before its tests, cleaned up after. Returns a
 * getter, since the node exists only once beforeAll has run.
 */
export function useLabNode(enabled: boolean): () => LabNode {
  let node: LabNode | undefined;
  beforeAll(async () => {
    if (enabled) node = await labNode();
  }, 180_000);
  afterAll(async () => {
    if (node) await node.cleanup();
  }, 180_000);
  return () => {
    if (!node) throw new Error('the lab node is not ready');
    return node;
  };
}
