// What this host's datapath should hold, derived from the cluster view (pure).
// A host programs only networks it has endpoints in (as Docker's overlay driver joins a
// network on first use); remote endpoints count only while their node is alive (its
// session-held node key exists) — external endpoints always count.
import type { ClusterView } from '../cluster/index.ts'
import type { ClusterSubnetSpec, LocalEndpointSpec, NetworkSpec, RemoteEndpointSpec } from '../datapath/types.ts'
import { hostIfnameFor } from '../net/index.ts'
import { remoteKey } from './items.ts'

export interface DesiredState {
  networks: Map<number, NetworkSpec>
  /** by host ifname */
  local: Map<string, LocalEndpointSpec>
  /** by "vni/ip" */
  remote: Map<string, RemoteEndpointSpec>
  /** vni -> sorted VTEPs */
  members: Map<number, string[]>
  /** Every network's subnet in the cluster (by VNI): isolation on the way out. */
  subnets: ClusterSubnetSpec[]
}

export function desiredState(view: ClusterView, me: string): DesiredState {
  const d: DesiredState = { networks: new Map(), local: new Map(), remote: new Map(), members: new Map(), subnets: [] }
  d.subnets = [...view.networks.values()]
    .map((n) => ({ vni: n.vni, subnet: n.subnet, internal: !!n.internal }))
    .sort((a, b) => a.vni - b.vni)
  const vniOf = new Map<string, number>()
  for (const ep of view.endpoints.values()) {
    const net = view.networks.get(ep.networkId)
    const docker = ep.plumbing === 'docker'
    if (!net || ep.node !== me || (!docker && (!ep.sandbox || !ep.ifname))) continue
    d.networks.set(net.vni, {
      id: net.id, vni: net.vni, subnet: net.subnet, gateway: net.gateway, mtu: net.mtu, ...(net.internal && { internal: true }),
    })
    vniOf.set(net.id, net.vni)
    const hostIfname = hostIfnameFor(ep.id)
    d.local.set(hostIfname, {
      id: ep.id, vni: net.vni, ip: ep.ip, mac: ep.mac, sandbox: ep.sandbox ?? '', ifname: ep.ifname ?? '', hostIfname,
      ...(ep.ports?.length && { publish: ep.ports }),
      ...(docker && { plumbing: 'docker' as const }),
    })
  }
  const members = new Map<number, Set<string>>()
  for (const ep of view.endpoints.values()) {
    const vni = vniOf.get(ep.networkId)
    if (vni === undefined || ep.node === me) continue
    const vtep = ep.external ? ep.vtep : ep.node ? view.nodes.get(ep.node)?.advertise : undefined
    if (!vtep) continue // owner node is dead (or record incomplete): not programmed
    d.remote.set(remoteKey(vni, ep.ip), { vni, ip: ep.ip, mac: ep.mac, vtep })
    let set = members.get(vni)
    if (!set) members.set(vni, (set = new Set()))
    set.add(vtep)
  }
  for (const vni of d.networks.keys()) d.members.set(vni, [...(members.get(vni) ?? [])].sort())
  return d
}
