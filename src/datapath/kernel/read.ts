// The kernel datapath read back from the kernel, in the shape of `ip -j`/`bridge -j` (links,
// permanent neighbours, the FDB; read over netlink by ./dump.ts): pure functions turn it into
// ActualState and per-VNI stats.
import type { ActualState, RemoteEndpointSpec, VniStats } from '../types.ts'
import { IFNAME_PREFIX } from '../../net/index.ts'
import {
  bridgeName,
  parseEndpointAlias,
  parseNetworkAlias,
  vniFromName,
  vxlanName,
  ZERO_MAC,
  type NetworkMeta,
} from './names.ts'

/** The part of `ip -j -d -s link` we use. */
export interface LinkJson {
  ifindex: number
  ifname: string
  mtu: number
  master?: string
  ifalias?: string
  address?: string
  linkinfo?: {
    info_kind?: string
    info_data?: { id?: number; local?: string; port?: number; learning?: boolean; proxy?: boolean }
  }
  stats64?: {
    rx: Record<string, number | string>
    tx: Record<string, number | string>
  }
}
export interface NeighJson {
  dst: string
  dev: string
  lladdr?: string
  state?: string[]
}
export interface FdbJson {
  mac: string
  ifname?: string
  dst?: string
  flags?: string[]
  master?: string
  state?: string
}

/** Raw kernel view of every weft device in this netns. */
export interface KernelView {
  links: LinkJson[]
  neighs: NeighJson[]
  fdb: FdbJson[]
}

/** Networks (by VNI) that have a vxlan device, with the metadata kept on their bridge. */
export function networksOf(
  view: KernelView,
): Map<number, { vxlan: LinkJson; bridge?: LinkJson; meta?: NetworkMeta }> {
  const out = new Map<number, { vxlan: LinkJson; bridge?: LinkJson; meta?: NetworkMeta }>()
  for (const l of view.links) {
    const vni = vniFromName(l.ifname, 'vx')
    if (vni === undefined || l.linkinfo?.info_kind !== 'vxlan') continue
    const bridge = view.links.find((b) => b.ifname === bridgeName(vni))
    out.set(vni, { vxlan: l, bridge, meta: parseNetworkAlias(bridge?.ifalias) })
  }
  return out
}

/** Turn a kernel view into the Datapath's ActualState (pure). */
export function actualFrom(view: KernelView): ActualState {
  const nets = networksOf(view)
  const networks = [...nets.keys()].sort((a, b) => a - b).map((vni) => ({ vni }))

  const localEndpoints: ActualState['localEndpoints'] = []
  for (const l of view.links) {
    const vni = l.master ? vniFromName(l.master, 'br') : undefined
    // Only weft's own veths (wf*) count: anything else enslaved by hand is not ours to report.
    if (
      vni === undefined ||
      l.linkinfo?.info_kind !== 'veth' ||
      !l.ifname.startsWith(IFNAME_PREFIX)
    )
      continue
    const meta = parseEndpointAlias(l.ifalias)
    localEndpoints.push({ vni, ip: meta?.ip ?? '', hostIfname: l.ifname, ifindex: l.ifindex })
  }

  const remoteEndpoints: RemoteEndpointSpec[] = []
  const members: ActualState['members'] = []
  for (const vni of nets.keys()) {
    const dev = vxlanName(vni)
    const fdb = view.fdb.filter((f) => f.ifname === dev && f.dst && f.flags?.includes('self'))
    const vtepOf = new Map(fdb.filter((f) => f.mac !== ZERO_MAC).map((f) => [f.mac, f.dst!]))
    for (const n of view.neighs) {
      if (n.dev !== dev || !n.lladdr) continue
      const vtep = vtepOf.get(n.lladdr)
      if (vtep) remoteEndpoints.push({ vni, ip: n.dst, mac: n.lladdr, vtep })
    }
    const vteps = fdb
      .filter((f) => f.mac === ZERO_MAC)
      .map((f) => f.dst!)
      .sort()
    members.push({ vni, vteps })
  }
  return { networks, localEndpoints, remoteEndpoints, members }
}

const big = (v: number | string | undefined) => BigInt(v ?? 0)

/** Per-VNI counters from the vxlan devices' stats64 (pure). */
export function statsFrom(links: LinkJson[]): VniStats[] {
  const out: VniStats[] = []
  for (const l of links) {
    const vni = vniFromName(l.ifname, 'vx')
    if (vni === undefined || !l.stats64) continue
    const { rx, tx } = l.stats64
    out.push({
      vni,
      txPackets: big(tx.packets),
      txBytes: big(tx.bytes),
      rxPackets: big(rx.packets),
      rxBytes: big(rx.bytes),
      // The kernel only tells totals: rx/tx dropped and errors of the vxlan device
      // (no FDB entry, no route to the VTEP, bad VNI/header on receive).
      drops: {
        rx_dropped: big(rx.dropped),
        rx_errors: big(rx.errors),
        tx_dropped: big(tx.dropped),
        tx_errors: big(tx.errors),
      },
    })
  }
  return out.sort((a, b) => a.vni - b.vni)
}
