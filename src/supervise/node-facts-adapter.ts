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
 * default route (from /proc/net/route), else the first non-loopback IPv4 address, else 127.0.0.1.
 */
export function readNodeFacts(routeTable = '/proc/net/route'): NodeFacts {
  const host = hostname();
  return {
    hostname: host,
    mdnsName: `${host.split('.')[0]}.local`,
    lanAddress: lanAddress(routeTable),
    networkSubnet: NODE_NETWORK_SUBNET,
  };
}

function lanAddress(routeTable: string): string {
  const ifaces = networkInterfaces();
  const v4 = (name: string) => (ifaces[name] ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address;
  let routed: string | undefined;
  try {
    // Lines: Iface Destination Gateway ...; the default route has destination 00000000.
    routed = readFileSync(routeTable, 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/))
      .find((f) => f[1] === '00000000')?.[0];
  } catch {
    // no /proc (not Linux): fall back below
  }
  return (
    (routed && v4(routed)) ??
    Object.keys(ifaces)
      .map(v4)
      .find((a) => a !== undefined) ??
    '127.0.0.1'
  );
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
