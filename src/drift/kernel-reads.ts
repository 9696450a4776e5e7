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
  let has = false
  try {
    host.dumpEach('read tc filters of a host veth', RTM.GETTFILTER, tcmsg(ifindex), [], (m) => {
      if (has) return
      const e = decodeEvent(m)
      has =
        e?.what === 'filter' &&
        e.kind === 'bpf' &&
        (e.bpfName === program || !!e.bpfName?.startsWith(`${program}:`))
    })
  } catch {
    return false // no clsact qdisc (EINVAL) or the device is gone: no filter either way
  }
  return has
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
  return readSandboxEnds(nsPath, [{ ifname, ip, subnet }])[0]!
}

/** One endpoint's end to read in a sandbox (see readSandboxEnd). */
export interface SandboxEndQuery {
  ifname: string
  ip: string
  subnet: { network: string; prefixLen: number }
}

/**
 * readSandboxEnd for several endpoints of one sandbox: one socket (one setns) and one dump of
 * its addresses and main-table routes for all of them, in the order asked. Per endpoint, the
 * dumps of a sandbox with ten endpoints were read ten times over (a full sweep at 1,000
 * endpoints was seconds of an agent's CPU).
 *
 * The links are dumped only when an end is not whole: an address labelled with the end's name
 * (the kernel renames labels with their link) says the link is there, and the connected route
 * through it says it is up (setting a link down removes its routes). The link dump was half of
 * a sandbox read (each link's message is ~1 KB to fill and decode), and the sweep reads every
 * sandbox every 5 s.
 */
export function readSandboxEnds(nsPath: string, queries: SandboxEndQuery[]): SandboxEnd[] {
  if (queries.length === 0) return []
  const ch = RtnlChannel.open({ nsPath, strict: true })
  try {
    const addresses: { ifindex: number; ip?: string; prefixLen: number; label?: string }[] = []
    ch.dumpEach('read addresses of a sandbox', RTM.GETADDR, ifaddrmsg(), [], (m) => {
      const e = decodeEvent(m)
      if (e?.what === 'address') addresses.push(e)
    })
    const routes: { oif?: number; dst?: string; dstLen: number }[] = []
    ch.dumpEach('read routes of a sandbox', RTM.GETROUTE, rtmsg(RT_TABLE_MAIN), [], (m) => {
      const e = decodeEvent(m)
      if (e?.what === 'route' && e.table === RT_TABLE_MAIN) routes.push(e)
    })
    const hasAddress = (ifindex: number, { ip, subnet }: SandboxEndQuery) =>
      addresses.some(
        (a) => a.ifindex === ifindex && a.ip === ip && a.prefixLen === subnet.prefixLen,
      )
    const hasRoute = (ifindex: number, { subnet }: SandboxEndQuery) =>
      routes.some(
        (r) => r.oif === ifindex && r.dst === subnet.network && r.dstLen === subnet.prefixLen,
      )
    const whole = queries.map((q): SandboxEnd | undefined => {
      const a = addresses.find((a) => a.label === q.ifname && hasAddress(a.ifindex, q))
      return a && hasRoute(a.ifindex, q)
        ? { ifindex: a.ifindex, up: true, address: true, route: true }
        : undefined
    })
    if (whole.every((e) => e !== undefined)) return whole as SandboxEnd[]
    const links = new Map<string, { ifindex: number; up: boolean }>()
    ch.dumpEach(
      `read links of sandbox ${nsPath}`,
      RTM.GETLINK,
      ifinfomsg(),
      [[IFLA_EXT_MASK, u32le(RTEXT_FILTER_SKIP_STATS)]],
      (m) => {
        const e = decodeEvent(m)
        if (e?.what === 'link' && e.ifname !== undefined && !links.has(e.ifname))
          links.set(e.ifname, e)
      },
    )
    return queries.map((q, i) => {
      const found = whole[i]
      if (found) return found
      const link = links.get(q.ifname)
      if (!link) return { up: false, address: false, route: false }
      return {
        ifindex: link.ifindex,
        up: link.up,
        address: hasAddress(link.ifindex, q),
        route: hasRoute(link.ifindex, q),
      }
    })
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
