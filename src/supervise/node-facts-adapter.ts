import { hostname, networkInterfaces } from 'node:os';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeFacts } from '../graph/node-facts.js';
import { NODE_NETWORK_SUBNET } from '../names.js';
import { writeFileAtomic } from '../fs/write-file-atomic.js';

/**
 * The node's facts as they are now: no process, a file read and two system calls, so every
 * pass can afford them. The LAN address is the IPv4 address of the interface that holds the
 * default route of the lowest metric (from /proc/net/route). With no default route (before
 * DHCP at boot, a Wi-Fi roam) the address last seen is kept: a fact that flapped to another
 * interface's address would restart lnd and everything that needs it, twice.
 */
export function readNodeFacts(
  previous?: NodeFacts,
  routeTable = '/proc/net/route',
  subnet: string = NODE_NETWORK_SUBNET,
): NodeFacts {
  const host = hostname();
  return {
    hostname: host,
    mdnsName: `${host.split('.')[0]}.local`,
    lanAddress: routedAddress(routeTable) ?? previous?.lanAddress ?? anyAddress() ?? '127.0.0.1',
    networkSubnet: subnet,
  };
}

function v4(name: string): string | undefined {
  return (networkInterfaces()[name] ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address;
}

function routedAddress(routeTable: string): string | undefined {
  let lines: string[][];
  try {
    // Iface Destination Gateway Flags RefCnt Use Metric ...; a default route has destination 00000000.
    lines = readFileSync(routeTable, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/));
  } catch {
    return undefined; // no /proc (not Linux)
  }
  const defaults = lines.filter((f) => f[1] === '00000000').sort((a, b) => Number(a[6] ?? 0) - Number(b[6] ?? 0));
  for (const f of defaults) {
    const address = v4(f[0]!);
    if (address) return address;
  }
  return undefined;
}

function anyAddress(): string | undefined {
  return Object.keys(networkInterfaces())
    .map(v4)
    .find((a) => a !== undefined);
}

const FILE = 'node-facts.json';

/**
 * The facts the last pass rendered with. The boot hook renders with these rather than with
 * what it finds at boot, when the network may not be up yet: otherwise every app that uses
 * the LAN address would boot on 127.0.0.1 and restart once the lease arrives.
 */
export async function readRecordedFacts(stateDir: string): Promise<NodeFacts | undefined> {
  try {
    const doc = JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as { version?: number; facts?: NodeFacts };
    return doc.version === 1 && doc.facts && typeof doc.facts.hostname === 'string' ? doc.facts : undefined;
  } catch {
    return undefined;
  }
}

export async function recordFacts(stateDir: string, facts: NodeFacts): Promise<void> {
  const known = await readRecordedFacts(stateDir);
  if (known && JSON.stringify(known) === JSON.stringify(facts)) return;
  await writeFileAtomic(join(stateDir, FILE), `${JSON.stringify({ version: 1, facts }, null, 2)}\n`, 0o600);
}
