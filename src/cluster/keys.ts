// The cluster key layout in the Consul KV tree (versioned under weft/v1/). Keys use only
// [A-Za-z0-9_.,/-] (docs/CONSUL-API.md §3.6): CIDRs are written with "_" for "/".

export const ROOT = 'weft/v1/'

export const keys = {
  /** Node record, held by the node's TTL session (behaviour delete): gone = node dead. */
  node: (name: string) => `${ROOT}nodes/${name}`,
  nodes: () => `${ROOT}nodes/`,
  /** Network record (JSON). */
  network: (id: string) => `${ROOT}networks/${id}`,
  networks: () => `${ROOT}networks/`,
  /** name -> network id; created with cas=0 so names are unique. */
  name: (name: string) => `${ROOT}names/${name}`,
  /** vni -> network id; created with cas=0 so VNIs are unique. */
  vni: (vni: number) => `${ROOT}vnis/${vni}`,
  /** Bumped (CAS) by every network create/remove: serialises subnet-overlap checks. */
  networkSeq: () => `${ROOT}netseq`,
  /** ip -> endpoint id; created with cas=0 so an address is handed out once. */
  ipam: (networkId: string, ip: string) => `${ROOT}ipam/${networkId}/${ip}`,
  ipamOf: (networkId: string) => `${ROOT}ipam/${networkId}/`,
  /** Endpoint record (JSON). */
  endpoint: (networkId: string, endpointId: string) => `${ROOT}endpoints/${networkId}/${endpointId}`,
  endpointsOf: (networkId: string) => `${ROOT}endpoints/${networkId}/`,
  endpoints: () => `${ROOT}endpoints/`,
  /**
   * A port published on a node -> "networkId/endpointId"; created with cas=0 so a node publishes
   * each protocol's port once (on any of its addresses).
   */
  port: (node: string, proto: string, port: number) => `${ROOT}ports/${node}/${proto}/${port}`,
  portsOf: (node: string) => `${ROOT}ports/${node}/`,
}

/** What a key under ROOT names, for turning a flat snapshot back into records. */
export type ParsedKey =
  | { kind: 'node'; name: string }
  | { kind: 'network'; id: string }
  | { kind: 'name'; name: string }
  | { kind: 'vni'; vni: number }
  | { kind: 'ipam'; networkId: string; ip: string }
  | { kind: 'endpoint'; networkId: string; endpointId: string }
  | { kind: 'other' }

export function parseKey(key: string): ParsedKey {
  if (!key.startsWith(ROOT)) return { kind: 'other' }
  const parts = key.slice(ROOT.length).split('/')
  switch (parts[0]) {
    case 'nodes':
      return parts.length === 2 ? { kind: 'node', name: parts[1]! } : { kind: 'other' }
    case 'networks':
      return parts.length === 2 ? { kind: 'network', id: parts[1]! } : { kind: 'other' }
    case 'names':
      return parts.length === 2 ? { kind: 'name', name: parts[1]! } : { kind: 'other' }
    case 'vnis':
      return parts.length === 2 ? { kind: 'vni', vni: Number(parts[1]) } : { kind: 'other' }
    case 'ipam':
      return parts.length === 3 ? { kind: 'ipam', networkId: parts[1]!, ip: parts[2]! } : { kind: 'other' }
    case 'endpoints':
      return parts.length === 3
        ? { kind: 'endpoint', networkId: parts[1]!, endpointId: parts[2]! }
        : { kind: 'other' }
    default:
      return { kind: 'other' }
  }
}
