/**
 * A name in a container's secretEnvironment, secretFiles or volumes: the app's own
 * (`rpc-password`) or one a required interface's provider exports (`bitcoind.rpc-password`).
 */
export type NameRef = { own: string } | { iface: string; name: string };

export function parseRef(ref: string): NameRef {
  const dot = ref.indexOf('.');
  return dot < 0 ? { own: ref } : { iface: ref.slice(0, dot), name: ref.slice(dot + 1) };
}
