// Per-endpoint plumbing of the way out: in the sandbox, a default route via the network's
// gateway (answered in BPF, see bpf/lib/gateway.h); on the host, a /32 route and a permanent
// neighbour for the endpoint through its host veth, which is how replies (un-NATed by
// conntrack) and published-port connections (DNATed) reach the container. Permanent, because
// the endpoint program answers ARP itself and never passes a container's ARP reply up.
// Both go away with the veth (the kernel drops a link's routes and neighbours with it).
// Three rtnetlink requests (./route-messages.ts), no process: the endpoint plumbing moved off
// `ip` for its cost at scale (see src/net/netlink.ts).
import { RtnlSocket } from '../net/index.ts'
import { defaultRouteMessage, hostRouteMessage, permanentNeighbourMessage } from './route-messages.ts'

export interface WayOutPlumbing {
  hostIfname: string
  hostIfindex: number
  ip: string
  mac: string
  /** Resolved sandbox netns path; '' when someone else (Docker, from the Join answer) routes the sandbox. */
  sandboxPath: string
  /** Interface inside the sandbox ("ethN") and its ifindex there. */
  ifname: string
  peerIfindex: number
  gateway: string
  /** The overlay MTU (the container end's). */
  mtu: number
}

/**
 * Metric of a sandbox's default route via `ifname`: a sandbox on two networks gets one default
 * route per network, eth0's preferred, and keeps the other when one endpoint goes.
 */
export function defaultRouteMetric(ifname: string): number {
  const n = /(\d+)$/.exec(ifname)
  return 100 + (n ? Math.min(Number(n[1]), 10_000) : 0)
}

/** This thread's rtnetlink socket in the host netns. */
let hostSocket: RtnlSocket | undefined

/** Idempotent: replaces what is there. */
export function plumbWayOut(p: WayOutPlumbing): void {
  const where = `way out of endpoint ${p.hostIfname}`
  const host = (hostSocket ??= RtnlSocket.open())
  host.request(`${where}: route ${p.ip}/32 dev ${p.hostIfname}`, hostRouteMessage(p.hostIfindex, p.ip, p.mtu))
  host.request(`${where}: neighbour ${p.ip} lladdr ${p.mac}`, permanentNeighbourMessage(p.hostIfindex, p.ip, p.mac))
  if (p.sandboxPath === '') return
  const sandbox = RtnlSocket.open(p.sandboxPath)
  try {
    sandbox.request(
      `${where}: default route via ${p.gateway} dev ${p.ifname} in ${p.sandboxPath}`,
      defaultRouteMessage(p.peerIfindex, p.gateway, defaultRouteMetric(p.ifname)),
    )
  } finally {
    sandbox.close()
  }
}
