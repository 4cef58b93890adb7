import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { portKey, type HostPort } from './types.js';

// Which host ports something holds, found by binding each for a moment as this user (what
// pasta does when a container publishes it). A port this user may not bind (below
// ip_unprivileged_port_start) cannot be checked this way and counts as free.

function bindTcp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (e: NodeJS.ErrnoException) => resolve(e.code !== 'EADDRINUSE'));
    srv.listen({ host: host || '0.0.0.0', port }, () => srv.close(() => resolve(true)));
  });
}

function bindUdp(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    sock.once('error', (e: NodeJS.ErrnoException) => {
      sock.close();
      resolve(e.code !== 'EADDRINUSE');
    });
    sock.bind({ address: host || '0.0.0.0', port, exclusive: true }, () => sock.close(() => resolve(true)));
  });
}

/** The `portKey`s of the ports given that are in use. */
export async function busyPorts(ports: HostPort[]): Promise<string[]> {
  const busy: string[] = [];
  for (const p of ports) {
    for (let port = p.hostPort; port < p.hostPort + Math.max(1, p.range); port++) {
      if (p.protocol !== 'tcp' && p.protocol !== 'udp') continue;
      const free = p.protocol === 'udp' ? await bindUdp(p.hostIp, port) : await bindTcp(p.hostIp, port);
      if (!free) busy.push(portKey(p, port));
    }
  }
  return busy;
}
