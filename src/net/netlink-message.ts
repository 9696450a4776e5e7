// rtnetlink messages as bytes (pure): the requests host plumbing sends (create a veth pair,
// set link attributes, read or delete a link, add, delete or list IPv4 addresses) and the
// parsers for the kernel's answers. No socket here: ./netlink.ts sends them.
//
// Layout (include/uapi/linux/netlink.h, rtnetlink.h): a 16-byte nlmsghdr (len, type, flags,
// seq, pid; host byte order), a fixed family header (ifinfomsg 16 bytes, ifaddrmsg 8), then
// attributes: u16 length (unpadded), u16 type, payload padded to 4 bytes; nests likewise.
import { ipv4Bytes, ipv4FromBytes } from './ip.ts'
import { macFromBytes, macToBytes } from './mac.ts'

export const AF_UNSPEC = 0
export const AF_INET = 2
export const AF_INET6 = 10

export const NLMSG_HDRLEN = 16
export const NLMSG_ERROR = 2
export const NLMSG_DONE = 3
export const NLM_F_REQUEST = 0x1
export const NLM_F_MULTI = 0x2
export const NLM_F_ACK = 0x4
export const NLM_F_ECHO = 0x8
export const NLM_F_DUMP = 0x300
export const NLM_F_REPLACE = 0x100
export const NLM_F_EXCL = 0x200
export const NLM_F_CREATE = 0x400
/** In an NLMSG_ERROR answer: extended-ack attributes follow the echoed header. */
export const NLM_F_ACK_TLVS = 0x200
const NLMSGERR_ATTR_MSG = 1

export const RTM_NEWLINK = 16
export const RTM_DELLINK = 17
export const RTM_GETLINK = 18
export const RTM_SETLINK = 19
export const RTM_NEWADDR = 20
export const RTM_DELADDR = 21
export const RTM_GETADDR = 22

export const IFLA_ADDRESS = 1
export const IFLA_IFNAME = 3
export const IFLA_MTU = 4
export const IFLA_LINK = 5
export const IFLA_MASTER = 10
export const IFLA_LINKINFO = 18
export const IFLA_IFALIAS = 20
export const IFLA_AF_SPEC = 26
export const IFLA_NET_NS_FD = 28
export const IFLA_EXT_MASK = 29
export const IFLA_INFO_KIND = 1
export const IFLA_INFO_DATA = 2
export const VETH_INFO_PEER = 1
export const IFLA_INET6_ADDR_GEN_MODE = 8
export const IN6_ADDR_GEN_MODE_NONE = 1
const RTEXT_FILTER_SKIP_STATS = 1 << 3
export const IFA_ADDRESS = 1
export const IFA_LOCAL = 2
export const IFF_UP = 0x1

const IFINFOMSG_LEN = 16
const IFADDRMSG_LEN = 8
const NLA_TYPE_MASK = 0x3fff // drops NLA_F_NESTED / NLA_F_NET_BYTEORDER

/** Builds one request: header, fixed family header, then (nested) attributes. */
export class NetlinkMessage {
  private size = NLMSG_HDRLEN
  private nests: number[] = []
  private buf = new Uint8Array(256)

  constructor(
    readonly type: number,
    flags: number,
    fixed: Uint8Array,
  ) {
    const v = new DataView(this.buf.buffer)
    v.setUint16(4, type, true)
    v.setUint16(6, flags | NLM_F_REQUEST, true)
    this.put(fixed)
  }

  private ensure(n: number) {
    if (this.size + n <= this.buf.length) return
    const bigger = new Uint8Array(Math.max(this.buf.length * 2, this.size + n))
    bigger.set(this.buf)
    this.buf = bigger
  }

  private put(bytes: Uint8Array) {
    const padded = (bytes.length + 3) & ~3
    this.ensure(padded)
    this.buf.set(bytes, this.size)
    this.buf.fill(0, this.size + bytes.length, this.size + padded)
    this.size += padded
  }

  attr(type: number, payload: Uint8Array): this {
    const head = new Uint8Array(4)
    const v = new DataView(head.buffer)
    v.setUint16(0, 4 + payload.length, true) // the length counts the payload unpadded
    v.setUint16(2, type, true)
    this.put(head)
    this.put(payload)
    return this
  }

  u32(type: number, value: number): this {
    const b = new Uint8Array(4)
    new DataView(b.buffer).setUint32(0, value, true)
    return this.attr(type, b)
  }

  u8(type: number, value: number): this {
    return this.attr(type, Uint8Array.of(value))
  }

  str(type: number, value: string): this {
    return this.attr(type, new TextEncoder().encode(value + '\0'))
  }

  /** Open a nested attribute; `fixed` is a family header some nests start with (veth peer). */
  begin(type: number, fixed?: Uint8Array): this {
    this.nests.push(this.size)
    this.put(Uint8Array.of(0, 0, type & 0xff, type >> 8))
    if (fixed) this.put(fixed)
    return this
  }

  end(): this {
    const at = this.nests.pop()
    if (at === undefined) throw new Error('NetlinkMessage.end() without begin()')
    new DataView(this.buf.buffer).setUint16(at, this.size - at, true)
    return this
  }

  /** The finished message with its sequence number. */
  bytes(seq: number): Uint8Array {
    if (this.nests.length)
      throw new Error('NetlinkMessage.bytes(): a nested attribute is still open')
    const v = new DataView(this.buf.buffer)
    v.setUint32(0, this.size, true)
    v.setUint32(8, seq, true)
    return this.buf.slice(0, this.size)
  }
}

export function ifinfomsg(o: { index?: number; flags?: number; change?: number } = {}): Uint8Array {
  const b = new Uint8Array(IFINFOMSG_LEN)
  const v = new DataView(b.buffer)
  v.setUint8(0, AF_UNSPEC)
  v.setInt32(4, o.index ?? 0, true)
  v.setUint32(8, o.flags ?? 0, true)
  v.setUint32(12, o.change ?? 0, true)
  return b
}

export function ifaddrmsg(family: number, prefixLen: number, index: number): Uint8Array {
  const b = new Uint8Array(IFADDRMSG_LEN)
  const v = new DataView(b.buffer)
  v.setUint8(0, family)
  v.setUint8(1, prefixLen)
  v.setUint32(4, index, true)
  return b
}

/** A link by name, or by ifindex in the socket's netns. */
export type LinkRef = string | number

function linkHeader(ref: LinkRef, o: { flags?: number; change?: number } = {}): Uint8Array {
  return ifinfomsg({ ...o, index: typeof ref === 'number' ? ref : 0 })
}

function named(m: NetlinkMessage, ref: LinkRef): NetlinkMessage {
  return typeof ref === 'string' ? m.str(IFLA_IFNAME, ref) : m
}

// --- requests ------------------------------------------------------------------------------

export interface VethRequest {
  name: string
  mtu: number
  /** ifindex of a bridge to enslave the new end to. */
  master?: number
  /** The peer is created directly inside the netns open at `netnsFd` (IFLA_NET_NS_FD). */
  peer: { name: string; netnsFd: number; mac: string; mtu: number }
}

/**
 * `ip link add NAME mtu M [master B] type veth peer name P netns FD address MAC mtu M'`; EEXIST
 * if NAME exists. Echoed (NLM_F_ECHO): the answer carries the new link (ifindex, MAC, IFLA_LINK
 * = the peer's ifindex), which saves reading it back.
 */
export function createVethMessage(o: VethRequest): NetlinkMessage {
  const m = new NetlinkMessage(
    RTM_NEWLINK,
    NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK | NLM_F_ECHO,
    ifinfomsg(),
  )
    .str(IFLA_IFNAME, o.name)
    .u32(IFLA_MTU, o.mtu)
  if (o.master !== undefined) m.u32(IFLA_MASTER, o.master)
  return m
    .begin(IFLA_LINKINFO)
    .str(IFLA_INFO_KIND, 'veth')
    .begin(IFLA_INFO_DATA)
    .begin(VETH_INFO_PEER, ifinfomsg())
    .str(IFLA_IFNAME, o.peer.name)
    .u32(IFLA_NET_NS_FD, o.peer.netnsFd)
    .attr(IFLA_ADDRESS, macToBytes(o.peer.mac))
    .u32(IFLA_MTU, o.peer.mtu)
    .end()
    .end()
    .end()
}

export interface LinkSettings {
  mac?: string
  mtu?: number
  alias?: string
  /** ifindex of a bridge to enslave to. */
  master?: number
  up?: boolean
}

/**
 * Set attributes of a link: always no IPv6 link-local (addrgenmode none: no DAD/MLD chatter,
 * and addrconf costs ~10 ms per link under RTNL), plus whatever `o` names.
 */
export function setLinkMessage(ref: LinkRef, o: LinkSettings): NetlinkMessage {
  const up = o.up ? { flags: IFF_UP, change: IFF_UP } : {}
  const m = named(new NetlinkMessage(RTM_SETLINK, NLM_F_ACK, linkHeader(ref, up)), ref)
  if (o.mac !== undefined) m.attr(IFLA_ADDRESS, macToBytes(o.mac))
  if (o.mtu !== undefined) m.u32(IFLA_MTU, o.mtu)
  if (o.master !== undefined) m.u32(IFLA_MASTER, o.master)
  if (o.alias !== undefined) m.str(IFLA_IFALIAS, o.alias)
  return m
    .begin(IFLA_AF_SPEC)
    .begin(AF_INET6)
    .u8(IFLA_INET6_ADDR_GEN_MODE, IN6_ADDR_GEN_MODE_NONE)
    .end()
    .end()
}

/** Read one link (without its statistics); the answer is one RTM_NEWLINK, or ENODEV. */
export function getLinkMessage(ref: LinkRef): NetlinkMessage {
  return named(new NetlinkMessage(RTM_GETLINK, NLM_F_ACK, linkHeader(ref)), ref).u32(
    IFLA_EXT_MASK,
    RTEXT_FILTER_SKIP_STATS,
  )
}

/** Delete a link (for a veth, both ends); ENODEV when there is none. */
export function deleteLinkMessage(ref: LinkRef): NetlinkMessage {
  return named(new NetlinkMessage(RTM_DELLINK, NLM_F_ACK, linkHeader(ref)), ref)
}

/** `ip addr replace IP/LEN dev IFINDEX` */
export function replaceAddressMessage(
  ifindex: number,
  ip: string,
  prefixLen: number,
): NetlinkMessage {
  const a = Uint8Array.from(ipv4Bytes(ip))
  return new NetlinkMessage(
    RTM_NEWADDR,
    NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK,
    ifaddrmsg(AF_INET, prefixLen, ifindex),
  )
    .attr(IFA_LOCAL, a)
    .attr(IFA_ADDRESS, a)
}

/** `ip addr del IP/LEN dev IFINDEX`; EADDRNOTAVAIL when it is not there. */
export function deleteAddressMessage(
  ifindex: number,
  ip: string,
  prefixLen: number,
): NetlinkMessage {
  const a = Uint8Array.from(ipv4Bytes(ip))
  return new NetlinkMessage(RTM_DELADDR, NLM_F_ACK, ifaddrmsg(AF_INET, prefixLen, ifindex))
    .attr(IFA_LOCAL, a)
    .attr(IFA_ADDRESS, a)
}

/** Dump every IPv4 address of the netns; the answers are RTM_NEWADDR parts ending in NLMSG_DONE. */
export function dumpAddressesMessage(): NetlinkMessage {
  return new NetlinkMessage(RTM_GETADDR, NLM_F_DUMP, ifaddrmsg(AF_INET, 0, 0))
}

// --- answers -------------------------------------------------------------------------------

/** One message of an answer buffer. `bytes` is the whole message, header included. */
export interface NlAnswer {
  type: number
  flags: number
  seq: number
  bytes: Uint8Array
}

/** Split `n` received bytes into messages; a truncated tail is dropped. */
export function splitMessages(buf: Uint8Array, n: number): NlAnswer[] {
  const v = new DataView(buf.buffer, buf.byteOffset, n)
  const out: NlAnswer[] = []
  for (let at = 0; at + NLMSG_HDRLEN <= n;) {
    const len = v.getUint32(at, true)
    if (len < NLMSG_HDRLEN || at + len > n) break
    out.push({
      type: v.getUint16(at + 4, true),
      flags: v.getUint16(at + 6, true),
      seq: v.getUint32(at + 8, true),
      bytes: buf.subarray(at, at + len),
    })
    at += (len + 3) & ~3
  }
  return out
}

/** Attributes in `buf[from, to)` by type (the last one wins for repeated types). */
export function attrs(
  buf: Uint8Array,
  from: number,
  to: number = buf.length,
): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>()
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  for (let at = from; at + 4 <= to;) {
    const len = v.getUint16(at, true)
    if (len < 4 || at + len > to) break
    out.set(v.getUint16(at + 2, true) & NLA_TYPE_MASK, buf.subarray(at + 4, at + len))
    at += (len + 3) & ~3
  }
  return out
}

const cString = (b: Uint8Array | undefined): string | undefined => {
  if (!b) return undefined
  const nul = b.indexOf(0)
  return new TextDecoder().decode(nul < 0 ? b : b.subarray(0, nul))
}

const u32Of = (b: Uint8Array | undefined): number | undefined =>
  b && b.byteLength >= 4 ? new DataView(b.buffer, b.byteOffset, 4).getUint32(0, true) : undefined

/**
 * An NLMSG_ERROR answer: errno 0 is the ACK. With NETLINK_CAP_ACK the echoed request is just
 * its header, and with NETLINK_EXT_ACK the kernel's own message may follow as an attribute.
 */
export function parseError(msg: Uint8Array, flags: number): { errno: number; message?: string } {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  const errno = msg.byteLength >= NLMSG_HDRLEN + 4 ? negated(v.getInt32(NLMSG_HDRLEN, true)) : 0
  const tlvAt = NLMSG_HDRLEN + 4 + NLMSG_HDRLEN
  const message =
    flags & NLM_F_ACK_TLVS && msg.byteLength > tlvAt
      ? cString(attrs(msg, tlvAt).get(NLMSGERR_ATTR_MSG))
      : undefined
  return message ? { errno, message } : { errno }
}

/** The error code an NLMSG_DONE carries (0 = the dump finished). */
export function parseDone(msg: Uint8Array): number {
  return msg.byteLength >= NLMSG_HDRLEN + 4
    ? negated(new DataView(msg.buffer, msg.byteOffset).getInt32(NLMSG_HDRLEN, true))
    : 0
}

/** The kernel sends -errno; 0 stays 0 (not -0). */
const negated = (rc: number): number => (rc === 0 ? 0 : -rc)

/** A link as rtnetlink describes it (the fields plumbing needs). */
export interface NlLink {
  ifindex: number
  ifname: string
  mac: string
  mtu: number
  /** ifindex of the peer (veth), in the peer's netns. */
  link?: number
  master?: number
  kind?: string
  alias?: string
  up: boolean
}

/** An RTM_NEWLINK message. */
export function parseLink(msg: Uint8Array): NlLink {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  const a = attrs(msg, NLMSG_HDRLEN + IFINFOMSG_LEN)
  const info = a.get(IFLA_LINKINFO)
  const link: NlLink = {
    ifindex: v.getInt32(NLMSG_HDRLEN + 4, true),
    ifname: cString(a.get(IFLA_IFNAME)) ?? '',
    mac: macFromBytes(a.get(IFLA_ADDRESS) ?? new Uint8Array()),
    mtu: u32Of(a.get(IFLA_MTU)) ?? 0,
    up: (v.getUint32(NLMSG_HDRLEN + 8, true) & IFF_UP) !== 0,
  }
  const peer = u32Of(a.get(IFLA_LINK))
  const master = u32Of(a.get(IFLA_MASTER))
  const kind = info ? cString(attrs(info, 0).get(IFLA_INFO_KIND)) : undefined
  const alias = cString(a.get(IFLA_IFALIAS))
  if (peer !== undefined) link.link = peer
  if (master !== undefined) link.master = master
  if (kind !== undefined) link.kind = kind
  if (alias !== undefined) link.alias = alias
  return link
}

/** An IPv4 address on a link. */
export interface NlAddress {
  ifindex: number
  ip: string
  prefixLen: number
}

/** An RTM_NEWADDR message; undefined for other families. */
export function parseAddress(msg: Uint8Array): NlAddress | undefined {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  if (v.getUint8(NLMSG_HDRLEN) !== AF_INET) return undefined
  const a = attrs(msg, NLMSG_HDRLEN + IFADDRMSG_LEN)
  const ip = a.get(IFA_LOCAL) ?? a.get(IFA_ADDRESS)
  if (!ip || ip.byteLength !== 4) return undefined
  return {
    ifindex: v.getUint32(NLMSG_HDRLEN + 4, true),
    ip: ipv4FromBytes(ip),
    prefixLen: v.getUint8(NLMSG_HDRLEN + 1),
  }
}
