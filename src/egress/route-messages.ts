// The three rtnetlink requests of an endpoint's way out (pure): `ip route replace IP/32 dev
// VETH scope link mtu MTU`, `ip neigh replace IP lladdr MAC dev VETH nud permanent` on the host, and
// `ip route replace default via GW dev ethN metric M` in the sandbox. Sent by ./routes.ts.
import { AF_INET, ipv4Bytes, macToBytes, NetlinkMessage, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE } from '../net/index.ts'

const RTM_NEWROUTE = 24
const RTM_NEWNEIGH = 28
const RTA_DST = 1
const RTA_OIF = 4
const RTA_GATEWAY = 5
const RTA_PRIORITY = 6
const RTA_METRICS = 8
const RTAX_MTU = 2
const NDA_DST = 1
const NDA_LLADDR = 2
const RT_TABLE_MAIN = 254
const RTPROT_BOOT = 3 // what `ip route` writes by default
const RT_SCOPE_UNIVERSE = 0
const RT_SCOPE_LINK = 253
const RTN_UNICAST = 1
const NUD_PERMANENT = 0x80
const REPLACE = NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK

/** struct rtmsg (12 bytes) for a main-table unicast route. */
function rtmsg(dstLen: number, scope: number): Uint8Array {
  return Uint8Array.of(AF_INET, dstLen, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT, scope, RTN_UNICAST, 0, 0, 0, 0)
}

/** struct ndmsg (12 bytes). */
function ndmsg(ifindex: number, state: number): Uint8Array {
  const b = new Uint8Array(12)
  const v = new DataView(b.buffer)
  b[0] = AF_INET
  v.setInt32(4, ifindex, true)
  v.setUint16(8, state, true)
  return b
}

const addr = (ip: string) => Uint8Array.from(ipv4Bytes(ip))

/**
 * `mtu`: the overlay MTU, as the container's end has it. The host end of the veth has the
 * underlay's (see src/datapath/bpf/datapath.ts), so without it a forwarded packet larger than
 * the container's MTU would be dropped by the veth instead of answered with frag-needed.
 */
export function hostRouteMessage(ifindex: number, ip: string, mtu: number): NetlinkMessage {
  return new NetlinkMessage(RTM_NEWROUTE, REPLACE, rtmsg(32, RT_SCOPE_LINK))
    .attr(RTA_DST, addr(ip))
    .u32(RTA_OIF, ifindex)
    .begin(RTA_METRICS)
    .u32(RTAX_MTU, mtu)
    .end()
}

export function permanentNeighbourMessage(ifindex: number, ip: string, mac: string): NetlinkMessage {
  return new NetlinkMessage(RTM_NEWNEIGH, REPLACE, ndmsg(ifindex, NUD_PERMANENT)).attr(NDA_DST, addr(ip)).attr(NDA_LLADDR, macToBytes(mac))
}

export function defaultRouteMessage(ifindex: number, gateway: string, metric: number): NetlinkMessage {
  return new NetlinkMessage(RTM_NEWROUTE, REPLACE, rtmsg(0, RT_SCOPE_UNIVERSE))
    .attr(RTA_GATEWAY, addr(gateway))
    .u32(RTA_OIF, ifindex)
    .u32(RTA_PRIORITY, metric)
}
