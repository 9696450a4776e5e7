// Per-endpoint plumbing of the way out: in the sandbox, a default route via the network's
// gateway (answered in BPF, see bpf/lib/gateway.h); on the host, a /32 route and a permanent
// neighbour for the endpoint through its host veth, which is how replies (un-NATed by
// conntrack) and published-port connections (DNATed) reach the container. Permanent, because
// the endpoint program answers ARP itself and never passes a container's ARP reply up.
// Both go away with the veth (the kernel drops a link's routes and neighbours with it).
//
// Two `ip` runs per endpoint (host, sandbox) on networks that are not internal. A follow-up
// can send the same three requests over the rtnetlink socket the endpoint plumbing opens.
import { batch } from '../net/index.ts'

export interface WayOutPlumbing {
  hostIfname: string
  ip: string
  mac: string
  /** Resolved sandbox netns path. */
  sandboxPath: string
  /** Interface inside the sandbox ("ethN"). */
  ifname: string
  gateway: string
}

/**
 * Metric of a sandbox's default route via `ifname`: a sandbox on two networks gets one default
 * route per network, eth0's preferred, and keeps the other when one endpoint goes.
 */
export function defaultRouteMetric(ifname: string): number {
  const n = /(\d+)$/.exec(ifname)
  return 100 + (n ? Math.min(Number(n[1]), 10_000) : 0)
}

/** iproute2 batch lines (pure, exported for tests). */
export function wayOutLines(p: WayOutPlumbing): { host: string[]; sandbox: string[] } {
  return {
    host: [
      `route replace ${p.ip}/32 dev ${p.hostIfname} scope link`,
      `neigh replace ${p.ip} lladdr ${p.mac} dev ${p.hostIfname} nud permanent`,
    ],
    sandbox: [`route replace default via ${p.gateway} dev ${p.ifname} metric ${defaultRouteMetric(p.ifname)}`],
  }
}

/** Idempotent: replaces what is there. */
export async function plumbWayOut(p: WayOutPlumbing): Promise<void> {
  const lines = wayOutLines(p)
  await batch(lines.host, { context: `way out of endpoint ${p.hostIfname} (host route to ${p.ip})` })
  await batch(lines.sandbox, { netns: p.sandboxPath, context: `way out of endpoint ${p.hostIfname} (default route in ${p.sandboxPath})` })
}
