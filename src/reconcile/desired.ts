// What this host's datapath should hold, derived from the cluster view (pure).
// A host programs only networks it has endpoints in (as Docker's overlay driver joins a
// network on first use); remote endpoints count only while their node is alive — external
// endpoints always count. Alive is the node's lease (its session-held node key exists) unless
// the peers' probes (src/probe) say otherwise: a node whose datapath answers keeps its
// endpoints after its agent died and its lease ran out, and one whose datapath is silent loses
// them at once, lease or not. Its VTEP stays a member either way, so its probes (and, once it
// answers again, its traffic) are still admitted — where members admit (bpf). The kernel
// datapath accepts VXLAN from any source and floods BUM and unknown unicast to its members, so
// there a VTEP not sent to is no member either: it would still get this host's traffic.
import type { ClusterView, EndpointRecord, NetworkRecord, NodeRecord } from '../cluster/index.ts'
import { clusterSubnets } from './subnets.ts'
import type {
  ClusterSubnetSpec,
  LocalEndpointSpec,
  NetworkSpec,
  RemoteEndpointSpec,
} from '../datapath/types.ts'
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

/** What probes say about remote nodes' datapaths (src/probe/prober.ts). */
export interface PeerLiveness {
  /**
   * Where a node's endpoints are (`vtep`) and whether to send to them (`forward`), given its
   * node record (undefined once its lease is gone); undefined when its VTEP is unknown.
   */
  judge(
    node: string,
    record: NodeRecord | undefined,
  ): { vtep: string; forward: boolean } | undefined
  /** Bumped whenever a judgement changes (the desired state is derived again). */
  version(): number
}

/** Without probes: the lease alone decides. */
const LEASE_ONLY: PeerLiveness = {
  judge: (_node, record) => (record ? { vtep: record.advertise, forward: true } : undefined),
  version: () => 0,
}

export interface DesiredOptions {
  /**
   * This host's datapath (default bpf): its members are the sources it admits (a VTEP not sent
   * to stays one); the kernel's are only whom it floods to (a VTEP not sent to is left out).
   */
  datapath?: 'bpf' | 'kernel'
}

/** A network's spec, the same object while its record is (the reconciler fingerprints it once). */
const networkSpecs = new WeakMap<NetworkRecord, NetworkSpec>()

function networkOf(net: NetworkRecord): NetworkSpec {
  let spec = networkSpecs.get(net)
  if (!spec) {
    spec = {
      id: net.id,
      vni: net.vni,
      subnet: net.subnet,
      gateway: net.gateway,
      mtu: net.mtu,
      ...(net.internal && { internal: true }),
    }
    networkSpecs.set(net, spec)
  }
  return spec
}

/** A local endpoint's spec, the same object while its record and its network's are. */
const localSpecs = new WeakMap<EndpointRecord, { net: NetworkRecord; spec: LocalEndpointSpec }>()

function localOf(ep: EndpointRecord, net: NetworkRecord): LocalEndpointSpec {
  const had = localSpecs.get(ep)
  if (had && had.net === net) return had.spec
  const hostIfname = hostIfnameFor(ep.id)
  const spec: LocalEndpointSpec = {
    id: ep.id,
    vni: net.vni,
    ip: ep.ip,
    mac: ep.mac,
    sandbox: ep.sandbox ?? '',
    ifname: ep.ifname ?? '',
    hostIfname,
    ...(ep.ports?.length && { publish: ep.ports }),
    ...(ep.plumbing === 'docker' && { plumbing: 'docker' as const }),
  }
  localSpecs.set(ep, { net, spec })
  return spec
}

/**
 * A remote endpoint's spec and key, the same objects while its record, VNI and VTEP are: a
 * pass runs for every watch answer and derives every remote endpoint of the host's networks,
 * and the reconciler fingerprints a spec once (by identity). Specs are never changed.
 */
const remotes = new WeakMap<EndpointRecord, { key: string; spec: RemoteEndpointSpec }>()

function remoteOf(
  ep: EndpointRecord,
  vni: number,
  vtep: string,
): { key: string; spec: RemoteEndpointSpec } {
  const had = remotes.get(ep)
  if (had && had.spec.vni === vni && had.spec.vtep === vtep) return had
  const r = { key: remoteKey(vni, ep.ip), spec: { vni, ip: ep.ip, mac: ep.mac, vtep } }
  remotes.set(ep, r)
  return r
}

export function desiredState(
  view: ClusterView,
  me: string,
  peers: PeerLiveness = LEASE_ONLY,
  o: DesiredOptions = {},
): DesiredState {
  const d: DesiredState = {
    networks: new Map(),
    local: new Map(),
    remote: new Map(),
    members: new Map(),
    subnets: clusterSubnets(view.networks),
  }
  for (const [networkId, eps] of endpointsByNetwork(view.endpoints.values())) {
    const n = networkDesired(view, networkId, eps, me, peers, o)
    if (!n) continue
    d.networks.set(n.network.vni, n.network)
    for (const l of n.local) d.local.set(l.hostIfname, l)
    for (const r of n.remote) d.remote.set(r.key, r.spec)
    d.members.set(n.network.vni, n.members)
  }
  return d
}

/** What one network contributes to this host's desired state (networkDesired). */
export interface NetworkDesired {
  network: NetworkSpec
  local: LocalEndpointSpec[]
  remote: { key: string; spec: RemoteEndpointSpec }[]
  /** sorted VTEPs */
  members: string[]
}

/** Endpoints grouped by their network's id, in the order met. */
export function endpointsByNetwork(
  endpoints: Iterable<EndpointRecord>,
): Map<string, EndpointRecord[]> {
  const out = new Map<string, EndpointRecord[]>()
  for (const ep of endpoints) {
    const list = out.get(ep.networkId)
    if (list) list.push(ep)
    else out.set(ep.networkId, [ep])
  }
  return out
}

/**
 * One network's part of the desired state, from its endpoints (`endpoints`: those of the view
 * whose networkId is `networkId`): undefined when this host has no endpoint in it (or the network
 * is unknown). The unit an incremental pass derives again when something of the network changed.
 */
export function networkDesired(
  view: ClusterView,
  networkId: string,
  endpoints: Iterable<EndpointRecord>,
  me: string,
  peers: PeerLiveness = LEASE_ONLY,
  o: DesiredOptions = {},
): NetworkDesired | undefined {
  const net = view.networks.get(networkId)
  if (!net) return undefined
  const membersAdmit = o.datapath !== 'kernel'
  const local: LocalEndpointSpec[] = []
  const others: EndpointRecord[] = []
  for (const ep of endpoints) {
    if (ep.node !== me) {
      others.push(ep)
      continue
    }
    if (ep.plumbing !== 'docker' && (!ep.sandbox || !ep.ifname)) continue
    local.push(localOf(ep, net))
  }
  if (local.length === 0) return undefined
  const vni = net.vni
  const remote: NetworkDesired['remote'] = []
  const members = new Set<string>()
  for (const ep of others) {
    const at = ep.external
      ? ep.vtep
        ? { vtep: ep.vtep, forward: true }
        : undefined
      : ep.node
        ? peers.judge(ep.node, view.nodes.get(ep.node))
        : undefined
    if (!at) continue // owner node is dead (or record incomplete): not programmed
    if (at.forward) remote.push(remoteOf(ep, vni, at.vtep))
    else if (!membersAdmit) continue
    members.add(at.vtep)
  }
  return { network: networkOf(net), local, remote, members: [...members].sort() }
}
