// Reads of kernel state that drift compares with what weft made and the datapath cannot tell
// itself: the endpoint program's filter on a host veth, and the sandbox end of an endpoint
// (link up, address, connected route). One rtnetlink dump each, no process started.
import { decodeEvent, ifaddrmsg, ifinfomsg, ipv4Attr, rtmsg, tcmsg } from './rtnl-decode.ts'
import { RTM, RtnlChannel } from './rtnl.ts'

/** Name bpf/vxlan.bpf.c gives the endpoint program (PROG_FROM_ENDPOINT; a test checks they agree). */
export const ENDPOINT_PROGRAM = 'vx_from_ep'

const RT_TABLE_MAIN = 254
const IFLA_EXT_MASK = 29
const RTEXT_FILTER_SKIP_STATS = 1 << 3
const u32le = (n: number) => {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}

/**
 * Whether the host veth with this ifindex has the endpoint program on its ingress hook.
 * libbpf names a tc bpf filter "<program>:[<id>]". A device without a clsact hook has none.
 */
export function hasEndpointFilter(
  host: RtnlChannel,
  ifindex: number,
  program = ENDPOINT_PROGRAM,
): boolean {
  let messages
  try {
    messages = host.dump(`read tc filters of ifindex ${ifindex}`, RTM.GETTFILTER, tcmsg(ifindex))
  } catch {
    return false // no clsact qdisc (EINVAL) or the device is gone: no filter either way
  }
  return messages.some((m) => {
    const e = decodeEvent(m)
    return (
      e?.what === 'filter' &&
      e.kind === 'bpf' &&
      (e.bpfName === program || !!e.bpfName?.startsWith(`${program}:`))
    )
  })
}

/** The sandbox end of an endpoint as the kernel has it. */
export interface SandboxEnd {
  /** The interface exists (and its ifindex in the sandbox). */
  ifindex?: number
  up: boolean
  address: boolean
  route: boolean
}

/** Read `ifname` in the sandbox at `nsPath`: up, has `ip/prefixLen`, has the connected route to `subnet`. */
export function readSandboxEnd(
  nsPath: string,
  ifname: string,
  ip: string,
  subnet: { network: string; prefixLen: number },
): SandboxEnd {
  const ch = RtnlChannel.open({ nsPath })
  try {
    const link = ch
      .dump(`read links of sandbox ${nsPath}`, RTM.GETLINK, ifinfomsg(), [
        [IFLA_EXT_MASK, u32le(RTEXT_FILTER_SKIP_STATS)],
      ])
      .map(decodeEvent)
      .find((e) => e?.what === 'link' && e.ifname === ifname)
    if (!link || link.what !== 'link') return { up: false, address: false, route: false }
    const address = ch
      .dump(`read addresses of sandbox ${nsPath}`, RTM.GETADDR, ifaddrmsg())
      .map(decodeEvent)
      .some(
        (e) =>
          e?.what === 'address' &&
          e.ifindex === link.ifindex &&
          e.ip === ip &&
          e.prefixLen === subnet.prefixLen,
      )
    const route = ch
      .dump(`read routes of sandbox ${nsPath}`, RTM.GETROUTE, rtmsg())
      .map(decodeEvent)
      .some(
        (e) =>
          e?.what === 'route' &&
          e.table === RT_TABLE_MAIN &&
          e.oif === link.ifindex &&
          e.dst === subnet.network &&
          e.dstLen === subnet.prefixLen,
      )
    return { ifindex: link.ifindex, up: link.up, address, route }
  } finally {
    ch.close()
  }
}

/**
 * Remove the endpoint's address in the sandbox, so that adding it again (the attach that
 * follows) also brings back its connected route: re-adding an address that is still there
 * changes nothing, and the kernel makes the prefix route only when the address is added.
 */
export function dropSandboxAddress(
  nsPath: string,
  ifindex: number,
  ip: string,
  prefixLen: number,
): void {
  const ch = RtnlChannel.open({ nsPath })
  try {
    ch.request(
      `remove ${ip}/${prefixLen} in sandbox ${nsPath}`,
      RTM.DELADDR,
      0,
      ifaddrmsg(ifindex, prefixLen),
      [
        [2, ipv4Attr(ip)],
        [1, ipv4Attr(ip)],
      ],
    )
  } finally {
    ch.close()
  }
}
