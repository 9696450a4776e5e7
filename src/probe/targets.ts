// Whom to probe (pure): every node with an endpoint in a network this host serves (has a local
// endpoint in), at its VTEP: the advertise address of its node record, or the one remembered
// from when it had one (its lease may be gone while its datapath still forwards). Probes carry
// the lowest VNI both serve, and are sized for the largest MTU among the shared networks.
import type { ClusterView } from '../cluster/index.ts'
import { VXLAN_OVERHEAD } from '../net/index.ts'

export interface ProbeTarget {
  node: string
  vtep: string
  vni: number
  /** Every VNI both serve, ascending (probes ask the peer about each in turn). */
  vnis: number[]
  /** IPv4 bytes of a full-size overlay packet on the underlay: network MTU + VXLAN overhead. */
  mtuTarget: number
}

export function probeTargets(
  view: ClusterView,
  me: string,
  remembered: ReadonlyMap<string, string>,
): ProbeTarget[] {
  const served = new Set<string>()
  // local endpoints as desired.ts counts them: a sandbox's, or one Docker plumbs
  for (const ep of view.endpoints.values()) {
    const local = ep.node === me && (ep.plumbing === 'docker' || (ep.sandbox && ep.ifname))
    if (local) served.add(ep.networkId)
  }
  // VNIs gathered in a set per node and sorted once: a host in hundreds of networks sees
  // thousands of endpoints per view change, and a sorted-array insert per endpoint was quadratic
  const byNode = new Map<string, { target: ProbeTarget; vnis: Set<number> }>()
  for (const ep of view.endpoints.values()) {
    if (ep.external || !ep.node || ep.node === me || !served.has(ep.networkId)) continue
    const net = view.networks.get(ep.networkId)
    const vtep = view.nodes.get(ep.node)?.advertise ?? remembered.get(ep.node)
    if (!net || !vtep) continue
    const t = byNode.get(ep.node)
    const mtuTarget = net.mtu + VXLAN_OVERHEAD
    if (!t) {
      const target = { node: ep.node, vtep, vni: net.vni, vnis: [], mtuTarget }
      byNode.set(ep.node, { target, vnis: new Set([net.vni]) })
    } else {
      t.target.vni = Math.min(t.target.vni, net.vni)
      t.vnis.add(net.vni)
      t.target.mtuTarget = Math.max(t.target.mtuTarget, mtuTarget)
    }
  }
  const targets = [...byNode.values()].map(({ target, vnis }) => ({
    ...target,
    vnis: [...vnis].sort((a, b) => a - b),
  }))
  return targets.sort((a, b) => a.node.localeCompare(b.node))
}
