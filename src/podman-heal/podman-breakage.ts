// Rootless Podman's own state can go bad under a node (the seeds' FM6). Pure: what Podman
// printed and what is on disk in, a named breakage and its fix out.
//
// - A stale runtime: a machine restarted without a clean boot keeps $XDG_RUNTIME_DIR (not a
//   tmpfs, or a VM restored), with libpod/tmp/alive and a pause.pid of a process that is gone;
//   or the pause process was killed with no container left to join through. Then every
//   podman command fails, before it reads anything.
// - A lost database: db.sql (or libpod/bolt_state.db) removed or emptied. Podman makes an
//   empty one and works, but no longer knows the volumes whose data is still on disk; a
//   volume unit then re-creates one over its data and sets its owner back to the user (see
//   QUADLET-FACTS.md), which a database image that chowned it will not start on.

import type { NetworkBreakage } from './network-helpers.js';

export type PodmanBreakage =
  | { kind: 'stale-runtime'; detail: string }
  | { kind: 'lost-volumes'; detail: string; volumes: string[] }
  | NetworkBreakage;

/** What Podman prints when its rootless runtime state is stale (Podman 5.4). */
const STALE_RUNTIME_SIGNATURES: RegExp[] = [
  /invalid internal status, try resetting the pause process/,
  /could not find any running process: no such process/,
  /cannot re-exec process to join the existing user namespace/,
  /pause\.pid: no such file or directory/,
];

/** The breakage a failed podman command's message shows; undefined when it is none of these. */
export function runtimeBreakageOf(message: string): PodmanBreakage | undefined {
  const sig = STALE_RUNTIME_SIGNATURES.find((s) => s.test(message));
  if (!sig) return undefined;
  const line = message.split('\n').find((l) => sig.test(l)) ?? message;
  return { kind: 'stale-runtime', detail: line.trim().slice(0, 300) };
}

/**
 * Volumes of ours whose data is on disk (`<graphRoot>/volumes/<name>/_data`) that Podman does
 * not know: its database lost them. `ours` are the volume names the installed apps' units
 * create; another user's or another tool's directory is never counted.
 */
export function lostVolumesOf(onDisk: string[], known: string[], ours: string[]): PodmanBreakage | undefined {
  const knownSet = new Set(known);
  const ourSet = new Set(ours);
  const lost = onDisk.filter((v) => ourSet.has(v) && !knownSet.has(v)).sort();
  if (lost.length === 0) return undefined;
  return {
    kind: 'lost-volumes',
    volumes: lost,
    detail: `Podman's database does not know ${lost.length} volume(s) whose data is on disk: ${lost.join(', ')}`,
  };
}

/** What recovery does, said where doctor names the fix. */
export const HEAL_FIX: Record<PodmanBreakage['kind'], string> = {
  'stale-runtime':
    "archy-quadlet doctor --fix: stops what is left of this user's Podman processes, clears Podman's runtime state under $XDG_RUNTIME_DIR, runs podman system migrate; the next pass starts the apps from their units (volumes, images and secrets are not touched)",
  'lost-volumes':
    "archy-quadlet doctor --fix: registers each volume again with its unit's labels, over its data, and puts its directory's owner and mode back (apps using it are stopped first and started again)",
  'network-helper-gone':
    'archy-quadlet doctor --fix (or the next pass): enters the namespace once (podman unshare --rootless-netns true), and Podman starts its pasta again; no container restarts',
  'dns-helper-gone':
    'archy-quadlet doctor --fix (or the next pass): podman network reload of one container of ours on those networks, and netavark starts aardvark-dns again for all of them',
};

/** The labels a rendered .volume unit gives its volume (`Label="k=v"` lines), in order. */
export function volumeUnitLabels(content: string): string[] {
  const out: string[] = [];
  let section = '';
  for (const raw of content.split('\n')) {
    const line = raw.trim();
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const m = /^Label=(.*)$/.exec(line);
    if (section === 'Volume' && m) out.push(m[1]!.replace(/^"(.*)"$/, '$1'));
  }
  return out;
}

/** `stat -c '%u %g %a'` output: the owner and mode to put back. */
export function parseOwnerMode(text: string): { uid: number; gid: number; mode: string } | undefined {
  const m = /^(\d+) (\d+) ([0-7]{3,4})$/.exec(text.trim());
  return m ? { uid: Number(m[1]), gid: Number(m[2]), mode: m[3]! } : undefined;
}
