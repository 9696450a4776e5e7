// rtnetlink messages drift reads, decoded into plain objects (pure), and the fixed headers
// of the requests it sends. Layouts: linux/rtnetlink.h, if_addr.h, neighbour.h, pkt_sched.h.
import { macFromBytes } from '../net/index.ts'
import { RTM, type NlMessage } from './rtnl.ts'

const AF_INET = 2
export const AF_BRIDGE = 7

/**
 * The payload of attribute `type` (first found) in `b` from `from`, or undefined. A scan per
 * attribute read, not a map of every attribute: a link answers with ~40 of which drift reads
 * one, and building that map per message was most of what a sweep of the sandbox ends cost.
 */
function attr(b: Uint8Array, from: number, type: number): Uint8Array | undefined {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  let at = from
  while (at + 4 <= b.length) {
    const len = v.getUint16(at, true)
    if (len < 4 || at + len > b.length) break
    if ((v.getUint16(at + 2, true) & 0x3fff) === type) return b.subarray(at + 4, at + len)
    at += (len + 3) & ~3
  }
  return undefined
}

/** One decoder for every name: a TextDecoder per attribute was most of a dump's decoding. */
const utf8 = new TextDecoder()
const str = (b: Uint8Array | undefined) =>
  b ? utf8.decode(b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0))) : undefined
const ip4 = (b: Uint8Array | undefined) =>
  b && b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : undefined
const mac = (b: Uint8Array | undefined) => (b && b.length === 6 ? macFromBytes(b) : undefined)
const u32 = (b: Uint8Array | undefined) =>
  b && b.length >= 4 ? new DataView(b.buffer, b.byteOffset).getUint32(0, true) : undefined

/** What one notification or dump answer says, as far as drift cares. */
export type RtnlEvent =
  | { what: 'link'; deleted: boolean; ifindex: number; ifname?: string; up: boolean }
  | {
      what: 'address'
      deleted: boolean
      ifindex: number
      ip?: string
      prefixLen: number
      label?: string
    }
  | { what: 'route'; deleted: boolean; dst?: string; dstLen: number; oif?: number; table: number }
  | {
      what: 'neighbour'
      deleted: boolean
      ifindex: number
      fdb: boolean
      ip?: string
      mac?: string
    }
  | { what: 'qdisc'; deleted: boolean; ifindex: number }
  | {
      what: 'filter'
      deleted: boolean
      ifindex: number
      parent: number
      kind?: string
      bpfName?: string
    }

/** Decode a message; undefined for types drift does not read. */
export function decodeEvent(m: NlMessage): RtnlEvent | undefined {
  const b = m.body
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  switch (m.type) {
    case RTM.NEWLINK:
    case RTM.DELLINK: {
      if (b.length < 16) return undefined
      return {
        what: 'link',
        deleted: m.type === RTM.DELLINK,
        ifindex: v.getInt32(4, true),
        ifname: str(attr(b, 16, 3)),
        up: (v.getUint32(8, true) & 1) !== 0,
      }
    }
    case RTM.NEWADDR:
    case RTM.DELADDR: {
      if (b.length < 8 || b[0] !== AF_INET) return undefined
      return {
        what: 'address',
        deleted: m.type === RTM.DELADDR,
        ifindex: v.getUint32(4, true),
        prefixLen: b[1]!,
        ip: ip4(attr(b, 8, 2) ?? attr(b, 8, 1)),
        label: str(attr(b, 8, 3)),
      }
    }
    case RTM.NEWROUTE:
    case RTM.DELROUTE: {
      if (b.length < 12 || b[0] !== AF_INET) return undefined
      return {
        what: 'route',
        deleted: m.type === RTM.DELROUTE,
        dstLen: b[1]!,
        dst: ip4(attr(b, 12, 1)),
        oif: u32(attr(b, 12, 4)),
        table: u32(attr(b, 12, 15)) ?? b[4]!,
      }
    }
    case RTM.NEWNEIGH:
    case RTM.DELNEIGH: {
      if (b.length < 12) return undefined
      return {
        what: 'neighbour',
        deleted: m.type === RTM.DELNEIGH,
        ifindex: v.getInt32(4, true),
        fdb: b[0] === AF_BRIDGE,
        ip: ip4(attr(b, 12, 1)),
        mac: mac(attr(b, 12, 2)),
      }
    }
    case RTM.NEWQDISC:
    case RTM.DELQDISC:
      return b.length < 20
        ? undefined
        : { what: 'qdisc', deleted: m.type === RTM.DELQDISC, ifindex: v.getInt32(4, true) }
    case RTM.NEWTFILTER:
    case RTM.DELTFILTER: {
      if (b.length < 20) return undefined
      const opts = attr(b, 20, 2)
      return {
        what: 'filter',
        deleted: m.type === RTM.DELTFILTER,
        ifindex: v.getInt32(4, true),
        parent: v.getUint32(12, true),
        kind: str(attr(b, 20, 1)),
        bpfName: opts ? str(attr(opts, 0, 7)) : undefined,
      }
    }
  }
  return undefined
}

/** struct ifaddrmsg for an IPv4 dump or delete. */
export function ifaddrmsg(ifindex = 0, prefixLen = 0): Uint8Array {
  const b = new Uint8Array(8)
  b[0] = AF_INET
  b[1] = prefixLen
  new DataView(b.buffer).setUint32(4, ifindex, true)
  return b
}

/** struct rtmsg for an IPv4 route dump (of one table, on a strict channel). */
export function rtmsg(table = 0): Uint8Array {
  const b = new Uint8Array(12)
  b[0] = AF_INET
  b[4] = table
  return b
}

/** struct ifinfomsg for a link dump. */
export function ifinfomsg(): Uint8Array {
  return new Uint8Array(16)
}

/** clsact ingress: TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS). */
export const TC_PARENT_INGRESS = 0xfffffff2

/** struct tcmsg for a filter dump of one device's ingress hook. */
export function tcmsg(ifindex: number, parent = TC_PARENT_INGRESS): Uint8Array {
  const b = new Uint8Array(20)
  const v = new DataView(b.buffer)
  v.setInt32(4, ifindex, true)
  v.setUint32(12, parent, true)
  return b
}

export const ipv4Attr = (ip: string) => Uint8Array.from(ip.split('.').map(Number))
