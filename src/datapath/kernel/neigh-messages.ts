// The rtnetlink requests that program a vxlan device's remote endpoints and flood list (pure):
// `ip neigh replace|del` (AF_INET neighbours) and `bridge fdb replace|append|del … self`
// (AF_BRIDGE FDB entries of the vxlan device itself). Sent by ./remote-table.ts over one
// socket: microseconds each, where an `ip`/`bridge` process costs milliseconds (see there).
import {
  AF_INET,
  ipv4Bytes,
  macToBytes,
  NetlinkMessage,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_REPLACE,
} from '../../net/index.ts'

const AF_BRIDGE = 7
const RTM_NEWNEIGH = 28
const RTM_DELNEIGH = 29
const NDA_DST = 1
const NDA_LLADDR = 2
const NLM_F_APPEND = 0x800
const NUD_NOARP = 0x40
const NUD_PERMANENT = 0x80
/** ndm_flags: the entry belongs to the device itself (vxlan), not to the bridge above it. */
const NTF_SELF = 0x02
/** ndm_flags: the entry belongs to the bridge the device is a port of. */
const NTF_MASTER = 0x04

/** struct ndmsg (12 bytes): family, pad, pad, ifindex, state, flags, type. */
function ndmsg(family: number, ifindex: number, state: number, flags: number): Uint8Array {
  const b = new Uint8Array(12)
  const v = new DataView(b.buffer)
  b[0] = family
  v.setInt32(4, ifindex, true)
  v.setUint16(8, state, true)
  b[10] = flags
  return b
}

const ip4 = (ip: string) => Uint8Array.from(ipv4Bytes(ip))
const mac6 = (mac: string) => Uint8Array.from(macToBytes(mac))

/** `ip neigh replace IP lladdr MAC dev <ifindex> nud permanent` */
export function neighReplaceMessage(ifindex: number, ip: string, mac: string): NetlinkMessage {
  return new NetlinkMessage(
    RTM_NEWNEIGH,
    NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
    ndmsg(AF_INET, ifindex, NUD_PERMANENT, 0),
  )
    .attr(NDA_DST, ip4(ip))
    .attr(NDA_LLADDR, mac6(mac))
}

/** `ip neigh del IP dev <ifindex>` */
export function neighDeleteMessage(ifindex: number, ip: string): NetlinkMessage {
  return new NetlinkMessage(RTM_DELNEIGH, NLM_F_ACK, ndmsg(AF_INET, ifindex, 0, 0)).attr(
    NDA_DST,
    ip4(ip),
  )
}

/**
 * `bridge fdb replace MAC dev <ifindex> dst VTEP self permanent` (unicast MACs: sets the one
 * destination) or, with `append`, `bridge fdb append …` (the all-zero MAC: adds a flood
 * destination). State NOARP|PERMANENT as iproute2 sends it.
 */
export function fdbAddMessage(
  ifindex: number,
  mac: string,
  vtep: string,
  how: 'replace' | 'append',
): NetlinkMessage {
  const flags = NLM_F_CREATE | NLM_F_ACK | (how === 'append' ? NLM_F_APPEND : NLM_F_REPLACE)
  return new NetlinkMessage(
    RTM_NEWNEIGH,
    flags,
    ndmsg(AF_BRIDGE, ifindex, NUD_NOARP | NUD_PERMANENT, NTF_SELF),
  )
    .attr(NDA_LLADDR, mac6(mac))
    .attr(NDA_DST, ip4(vtep))
}

/**
 * `bridge fdb del MAC dev <ifindex> [dst VTEP] self` (without `vtep`: the entry with all its
 * destinations), or with `of: 'master'` the entry the bridge learned on that port.
 */
export function fdbDeleteMessage(
  ifindex: number,
  mac: string,
  o: { vtep?: string; of?: 'self' | 'master' } = {},
): NetlinkMessage {
  const m = new NetlinkMessage(
    RTM_DELNEIGH,
    NLM_F_ACK,
    ndmsg(AF_BRIDGE, ifindex, NUD_NOARP, o.of === 'master' ? NTF_MASTER : NTF_SELF),
  ).attr(NDA_LLADDR, mac6(mac))
  return o.vtep === undefined ? m : m.attr(NDA_DST, ip4(o.vtep))
}
