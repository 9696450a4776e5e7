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
  const membersAdmit = o.datapath !== 'kernel'
  const d: DesiredState = {
    networks: new Map(),
    local: new Map(),
    remote: new Map(),
    members: new Map(),
    subnets: [],
  }
  d.subnets = clusterSubnets(view.networks)
  const vniOf = new Map<string, number>()
  for (const ep of view.endpoints.values()) {
    const net = view.networks.get(ep.networkId)
    const docker = ep.plumbing === 'docker'
    if (!net || ep.node !== me || (!docker && (!ep.sandbox || !ep.ifname))) continue
    d.networks.set(net.vni, networkOf(net))
    vniOf.set(net.id, net.vni)
    const local = localOf(ep, net)
    d.local.set(local.hostIfname, local)
  }
  const members = new Map<number, Set<string>>()
  for (const ep of view.endpoints.values()) {
    const vni = vniOf.get(ep.networkId)
    if (vni === undefined || ep.node === me) continue
    const at = ep.external
      ? ep.vtep
        ? { vtep: ep.vtep, forward: true }
        : undefined
      : ep.node
        ? peers.judge(ep.node, view.nodes.get(ep.node))
        : undefined
    if (!at) continue // owner node is dead (or record incomplete): not programmed
    if (at.forward) {
      const r = remoteOf(ep, vni, at.vtep)
      d.remote.set(r.key, r.spec)
    } else if (!membersAdmit) continue
    let set = members.get(vni)
    if (!set) members.set(vni, (set = new Set()))
    set.add(at.vtep)
  }
  for (const vni of d.networks.keys()) d.members.set(vni, [...(members.get(vni) ?? [])].sort())
  return d
}
