// Kernel datapath naming and metadata: devices carry the VNI in their name, and the
// facts the kernel has no field for (network subnet/MTU, endpoint IP) live in ifalias,
// so a restarted agent reads everything back from the kernel.
import { assertVni } from '../../net/index.ts'

export { bridgeName, vxlanName, vniFromName, VXLAN_OVERHEAD, VXLAN_PORT } from '../../net/index.ts'
/** The all-zero MAC: FDB entries with it are the BUM (flood) list of a vxlan device. */
export const ZERO_MAC = '00:00:00:00:00:00'

/** Facts about a network kept in its bridge's ifalias. */
export interface NetworkMeta {
  vni: number
  subnet: string
  mtu: number
  /** First 12 hex of the network id. */
  id12: string
}

/** "weft:net:<vni>:<subnet>:<mtu>:<id12>" */
export function networkAlias(m: NetworkMeta): string {
  return `weft:net:${m.vni}:${m.subnet}:${m.mtu}:${m.id12}`
}

/** Inverse of networkAlias; undefined for anything else. */
export function parseNetworkAlias(alias: string | undefined): NetworkMeta | undefined {
  const m = /^weft:net:(\d+):(\d+\.\d+\.\d+\.\d+\/\d+):(\d+):([0-9a-f]*)$/.exec(alias ?? '')
  if (!m) return undefined
  return { vni: assertVni(Number(m[1])), subnet: m[2]!, mtu: Number(m[3]), id12: m[4]! }
}

/** "weft:ep:<vni>:<ip>" on an endpoint's host veth. */
export function endpointAlias(vni: number, ip: string): string {
  return `weft:ep:${vni}:${ip}`
}

/** Inverse of endpointAlias. */
export function parseEndpointAlias(
  alias: string | undefined,
): { vni: number; ip: string } | undefined {
  const m = /^weft:ep:(\d+):(\d+\.\d+\.\d+\.\d+)$/.exec(alias ?? '')
  return m ? { vni: Number(m[1]), ip: m[2]! } : undefined
}
