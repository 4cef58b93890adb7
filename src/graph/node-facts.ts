/**
 * Facts of the node that manifests may use in environment values and command arguments, as
 * `{{node.<fact>}}`. Resolved on every pass by an adapter (see supervise/node-facts-adapter.ts),
 * never baked in at install: a DHCP lease changes the LAN address, a renamed host its mDNS name.
 */
export const NODE_FACTS = {
  hostname: "the node's host name",
  mdnsName: 'its mDNS name (<hostname>.local)',
  lanAddress: 'its LAN address (IPv4 of the interface of the default route; 127.0.0.1 when it has none)',
  networkSubnet: "the node network's subnet (for bitcoind's -rpcallowip)",
} as const;

export type NodeFactName = keyof typeof NODE_FACTS;
export type NodeFacts = Record<NodeFactName, string>;

const FACT_REF = /\{\{\s*node\.([A-Za-z0-9_-]*)\s*\}\}/g;

export function isNodeFact(name: string): name is NodeFactName {
  return Object.hasOwn(NODE_FACTS, name);
}

/** The facts a string refers to, known or not (unknown ones are validation errors). */
export function factRefs(value: string): string[] {
  if (!value.includes('{{')) return []; // nearly every string: no regex copied for it
  return [...value.matchAll(FACT_REF)].map((m) => m[1]!);
}

/** The string with every known fact put in, each looked up by `fact`. Pure. */
export function withFacts(value: string, fact: (name: NodeFactName) => string): string {
  if (!value.includes('{{')) return value;
  return value.replace(FACT_REF, (all, name: string) => (isNodeFact(name) ? fact(name) : all));
}
