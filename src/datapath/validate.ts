// Input checks of the Datapath contract, shared by both implementations: every method
// validates and normalises its arguments before touching the kernel (bad input changes nothing).
import { assertVni, parseIPv4, parseMac } from '../net/index.ts'
import type { RemoteEndpointSpec } from './types.ts'

/** A remote endpoint's key (vni + overlay address), normalised. */
export function checkRemoteKey(ep: { vni: number; ip: string }): { vni: number; ip: string } {
  return { vni: assertVni(ep.vni), ip: parseIPv4(ep.ip, 'remote endpoint address') }
}

/** A whole remote endpoint, normalised (lower-case MAC, canonical addresses). */
export function checkRemote(ep: RemoteEndpointSpec): RemoteEndpointSpec {
  return {
    ...checkRemoteKey(ep),
    mac: parseMac(ep.mac, 'remote endpoint MAC'),
    vtep: parseIPv4(ep.vtep, 'remote VTEP address'),
  }
}
