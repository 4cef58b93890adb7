import { networkBreakagesOf } from '../podman-heal/network-helpers.js';
import type { Desired, Observed, Step } from './types.js';

// Rootless Podman's network helpers, gone under running apps (see podman-heal/network-helpers.ts):
// each started again by the one Podman command that does it, without restarting a container.

/**
 * The steps that bring back a network helper that containers of ours need. One at a time: a
 * namespace whose pasta is gone first (setting up a container's network enters the namespace
 * too, so the two would race), then aardvark-dns in the next batch.
 */
export function planNetworkHelpers(desired: Desired, o: Observed): Step[] {
  if (!o.networkHelpers) return [];
  // Ours that systemd runs, started: a unit that is down needs no network, and while the first
  // container on a network starts, netavark has written its file but not yet started the
  // helper (a restart then would race with it).
  const running = desired.apps.flatMap((a) =>
    (a.rendered?.containers ?? [])
      .filter((c) => o.units[c.service]?.activeState === 'active')
      .map((c) => c.containerName),
  );
  const broken = networkBreakagesOf(o.networkHelpers, running);
  const netns = broken.find((b) => b.kind === 'network-helper-gone');
  if (netns) return [{ kind: 'restartNetnsHelper', reason: netns.detail }];
  const dns = broken.find((b) => b.kind === 'dns-helper-gone');
  if (dns?.kind === 'dns-helper-gone')
    return [{ kind: 'restartDnsHelper', container: dns.containers[0]!, reason: dns.detail }];
  return [];
}
