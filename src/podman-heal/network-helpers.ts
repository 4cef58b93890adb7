// The two helper processes rootless Podman's networks live on (the seeds' "rootless network
// namespace revoked"). Pure: what the user's runtime directory and /proc say in, a named
// breakage out. Measured in QUADLET-FACTS.md, "The network helpers of rootless Podman".
//
// - Containers on bridge networks (an app's private network, the node network) share one
//   rootless network namespace; its only way out, to the host and the internet, is the
//   `pasta` process Podman started for it. Once it is killed, every such container has lost
//   the host and the internet (bitcoind its peers), silently: published ports and names
//   still work. Podman starts it again only when something enters the namespace.
// - `aardvark-dns` answers the names (aliases) on those networks. Once it is killed, no
//   container resolves another (lnd no longer finds bitcoind) until netavark sets up a
//   container's network again.

/** What a process is, by its pid file: the pid, and its command name while it runs (absent: gone, or a zombie). */
export interface HelperProcess {
  pid: number;
  name?: string;
}

export interface NetworkHelpersProbe {
  /**
   * The rootless network namespace, when Podman has one: how many container networks use it
   * (its `ref-count`) and the process its `rootless-netns-conn.pid` names.
   */
  rootlessNetns?: { users: number; helper?: HelperProcess };
  /**
   * aardvark-dns: the process `aardvark.pid` names, and the containers on each network it
   * serves (its config file per network: one line per container, its name first).
   */
  dns?: { helper?: HelperProcess; members: Record<string, string[]> };
}

export type NetworkBreakage =
  | { kind: 'network-helper-gone'; detail: string }
  | { kind: 'dns-helper-gone'; detail: string; networks: string[]; containers: string[] };

const NETNS_HELPERS = new Set(['pasta', 'pasta.avx2', 'slirp4netns']);

/**
 * The network helpers that are gone while containers of ours (`ours`: container names) need
 * them. Containers on a bridge network are always in aardvark-dns's files (Quadlet's networks
 * have DNS on): those files say which of ours use the shared namespace at all.
 */
export function networkBreakagesOf(p: NetworkHelpersProbe, ours: Iterable<string>): NetworkBreakage[] {
  const mine = new Set(ours);
  const members = p.dns?.members ?? {};
  const networks = Object.keys(members)
    .filter((n) => members[n]!.some((c) => mine.has(c)))
    .sort();
  const containers = [...new Set(networks.flatMap((n) => members[n]!.filter((c) => mine.has(c))))];
  if (containers.length === 0) return [];
  const out: NetworkBreakage[] = [];
  const netns = p.rootlessNetns;
  // Without the namespace itself (its directory gone) there is no helper to start again.
  if (netns && netns.users > 0 && !(netns.helper?.name && NETNS_HELPERS.has(netns.helper.name)))
    out.push({
      kind: 'network-helper-gone',
      detail: `the rootless network namespace's pasta${netns.helper ? ` (pid ${netns.helper.pid})` : ''} is gone: ${containers.length} container(s) on ${networks.join(', ')} cannot reach the host or the internet`,
    });
  if (p.dns?.helper?.name !== 'aardvark-dns')
    out.push({
      kind: 'dns-helper-gone',
      networks,
      containers,
      detail: `aardvark-dns${p.dns?.helper ? ` (pid ${p.dns.helper.pid})` : ''} is gone: containers on ${networks.join(', ')} cannot resolve each other's names`,
    });
  return out;
}

/** A pid file's text: the pid, or undefined when it is not one. */
export function parsePidFile(text: string): number | undefined {
  const m = /^\s*(\d+)\s*$/.exec(text);
  const pid = m ? Number(m[1]) : Number.NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
}

/** `ref-count`'s text: how many container networks use the namespace (0 when unreadable). */
export function parseRefCount(text: string): number {
  const n = Number(text.trim());
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/**
 * An aardvark-dns network file: the gateway's address(es) on the first line, then a line per
 * container, `<id> <ipv4s> <ipv6s> <names>` with names comma-separated, its own name first.
 */
export function parseDnsMembers(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.split(' ');
    const names = fields[fields.length - 1]?.trim();
    if (fields.length >= 4 && /^[0-9a-f]{64}$/.test(fields[0]!) && names) out.push(names.split(',')[0]!);
  }
  return out;
}

/**
 * A process's name from `/proc/<pid>/stat`, undefined for a zombie: a helper killed but not yet
 * reaped still has its name there, and netavark, which asks with kill(pid, 0), takes it for alive.
 */
export function liveProcessName(stat: string): string | undefined {
  const m = /^\d+ \((.*)\) (\S) /s.exec(stat);
  return m && m[2] !== 'Z' && m[2] !== 'X' ? m[1] : undefined;
}
