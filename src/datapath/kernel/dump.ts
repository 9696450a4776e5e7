// Reading the kernel datapath back over rtnetlink (three dumps on one socket: links, IPv4
// neighbours, the FDB), in the shape `ip -j`/`bridge -j` print, so ./read.ts's pure functions
// take either. Why: the reconciler reads the whole kernel at every resync and the agent's
// drift guard with it; at 1,000 endpoints `ip -d link show` alone printed 550 KB of JSON per
// read, three processes each time. Dumps here cost no process and a binary parse.
import { ipv4FromBytes, macFromBytes, NetlinkMessage, type RtnlSocket } from '../../net/index.ts'
import { attrs, ifinfomsg, parseLink, type NlLink } from '../../net/netlink-message.ts'
import type { FdbJson, KernelView, LinkJson, NeighJson } from './read.ts'

const AF_INET = 2
const AF_BRIDGE = 7
const RTM_GETLINK = 18
const RTM_NEWNEIGH = 28
const RTM_GETNEIGH = 30
const NLM_F_DUMP = 0x300
const IFLA_EXT_MASK = 29
const RTEXT_FILTER_SKIP_STATS = 1 << 3
const NLMSG_HDRLEN = 16
const NDMSG_LEN = 12
const NDA_DST = 1
const NDA_LLADDR = 2
const NUD_PERMANENT = 0x80
const NTF_SELF = 0x02

function ndmsg(family: number): Uint8Array {
  const b = new Uint8Array(NDMSG_LEN)
  b[0] = family
  return b
}

/** One neighbour or FDB entry as the kernel sends it (pure). */
export interface NdEntry {
  family: number
  ifindex: number
  state: number
  flags: number
  dst?: string
  lladdr?: string
}

/** Parse an RTM_NEWNEIGH message (pure); undefined for other types. */
export function parseNeigh(msg: Uint8Array): NdEntry | undefined {
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  if (msg.byteLength < NLMSG_HDRLEN + NDMSG_LEN || v.getUint16(4, true) !== RTM_NEWNEIGH)
    return undefined
  const a = attrs(msg, NLMSG_HDRLEN + NDMSG_LEN)
  const dst = a.get(NDA_DST)
  const ll = a.get(NDA_LLADDR)
  const e: NdEntry = {
    family: msg[NLMSG_HDRLEN]!,
    ifindex: v.getInt32(NLMSG_HDRLEN + 4, true),
    state: v.getUint16(NLMSG_HDRLEN + 8, true),
    flags: msg[NLMSG_HDRLEN + 10]!,
  }
  if (dst?.byteLength === 4) e.dst = ipv4FromBytes(dst)
  if (ll?.byteLength === 6) e.lladdr = macFromBytes(ll)
  return e
}

/** The three dumps turned into `ip -j`/`bridge -j` shaped records (pure). */
export function viewFrom(links: NlLink[], neighs: NdEntry[], fdb: NdEntry[]): KernelView {
  const name = new Map(links.map((l) => [l.ifindex, l.ifname]))
  const linkJson: LinkJson[] = links.map((l) => ({
    ifindex: l.ifindex,
    ifname: l.ifname,
    mtu: l.mtu,
    ...(l.master !== undefined && name.has(l.master) && { master: name.get(l.master)! }),
    ...(l.alias !== undefined && { ifalias: l.alias }),
    ...(l.mac && { address: l.mac }),
    ...(l.kind !== undefined && { linkinfo: { info_kind: l.kind } }),
  }))
  const neighJson: NeighJson[] = neighs
    .filter((n) => n.state & NUD_PERMANENT && n.dst && name.has(n.ifindex))
    .map((n) => ({
      dst: n.dst!,
      dev: name.get(n.ifindex)!,
      ...(n.lladdr && { lladdr: n.lladdr }),
      state: ['PERMANENT'],
    }))
  const fdbJson: FdbJson[] = fdb
    .filter((f) => f.lladdr && name.has(f.ifindex))
    .map((f) => ({
      mac: f.lladdr!,
      ifname: name.get(f.ifindex)!,
      ...(f.dst && { dst: f.dst }),
      flags: f.flags & NTF_SELF ? ['self'] : [],
    }))
  return { links: linkJson, neighs: neighJson, fdb: fdbJson }
}

/** Links, permanent IPv4 neighbours and the FDB of this netns, over `sock`. */
export function dumpKernel(sock: RtnlSocket): KernelView {
  const links = sock
    .dump(
      'list links',
      new NetlinkMessage(RTM_GETLINK, NLM_F_DUMP, ifinfomsg()).u32(
        IFLA_EXT_MASK,
        RTEXT_FILTER_SKIP_STATS,
      ),
    )
    .map(parseLink)
  const nd = (family: number, what: string) =>
    sock
      .dump(what, new NetlinkMessage(RTM_GETNEIGH, NLM_F_DUMP, ndmsg(family)))
      .map(parseNeigh)
      .filter((e): e is NdEntry => e !== undefined && e.family === family)
  return viewFrom(links, nd(AF_INET, 'list neighbours'), nd(AF_BRIDGE, 'list fdb'))
}
