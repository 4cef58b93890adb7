import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  liveProcessName,
  parseDnsMembers,
  parsePidFile,
  parseRefCount,
  type HelperProcess,
  type NetworkHelpersProbe,
} from './network-helpers.js';

// Reads what rootless Podman keeps of its network helpers (see network-helpers.ts): a few
// small files under its run root and /proc. No podman process, no write: cheap enough for
// every pass.

/**
 * Podman's run root for a rootless user: `$XDG_RUNTIME_DIR/containers` unless a storage.conf
 * moves it (measured default on Podman 5.4). Asking `podman info` would cost a pass a process.
 */
export function rootlessRunRoot(runtimeDir: string): string {
  return join(runtimeDir, 'containers');
}

const read = (p: string) => readFile(p, 'utf8').catch(() => undefined);

async function helperOf(pidFile: string): Promise<HelperProcess | undefined> {
  const text = await read(pidFile);
  const pid = text === undefined ? undefined : parsePidFile(text);
  if (pid === undefined) return undefined;
  const stat = await read(`/proc/${pid}/stat`);
  const name = stat === undefined ? undefined : liveProcessName(stat);
  return name === undefined ? { pid } : { pid, name };
}

export async function probeNetworkHelpers(runRoot: string): Promise<NetworkHelpersProbe> {
  const networks = join(runRoot, 'networks');
  const out: NetworkHelpersProbe = {};
  const refCount = await read(join(networks, 'rootless-netns', 'ref-count'));
  if (refCount !== undefined) {
    const helper = await helperOf(join(networks, 'rootless-netns', 'rootless-netns-conn.pid'));
    out.rootlessNetns = { users: parseRefCount(refCount), ...(helper ? { helper } : {}) };
  }
  const dnsDir = join(networks, 'aardvark-dns');
  const files = await readdir(dnsDir).catch(() => [] as string[]);
  const members: Record<string, string[]> = {};
  for (const f of files) {
    if (f === 'aardvark.pid' || f.startsWith('.')) continue;
    const text = await read(join(dnsDir, f));
    if (text !== undefined) members[f] = parseDnsMembers(text);
  }
  if (files.length > 0) {
    const helper = await helperOf(join(dnsDir, 'aardvark.pid'));
    out.dns = { members, ...(helper ? { helper } : {}) };
  }
  return out;
}
