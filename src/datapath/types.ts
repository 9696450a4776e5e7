// The Datapath contract: what the reconciler asks of a host's forwarding plane.
// Two implementations: `bpf` (TC eBPF, src/datapath/bpf/) and `kernel` (Docker's
// layout: bridge + vxlan device + static FDB/neighbours, src/datapath/kernel/).
// Every method is idempotent: calling it again with the same input changes nothing,
// so the reconciler can re-run after a crash, a restart or a store outage.

/** A network as the datapath needs it. */
export interface NetworkSpec {
  /** 64 hex chars; names host objects (bridges, pins) via its first 12. */
  id: string
  vni: number
  /** IPv4 CIDR, e.g. "10.0.1.0/24". */
  subnet: string
  /** Gateway address inside the subnet (not assigned to any endpoint). */
  gateway: string
  /** Overlay MTU (underlay MTU - 50 unless the user asked for less). */
  mtu: number
  /** --internal: no default route, no NAT, nothing leaves the overlay. */
  internal?: boolean
}

/** A port of an endpoint published on its host (`--publish [HOST_IP:]HOST_PORT:CONTAINER_PORT[/proto]`). */
export interface PublishedPortSpec {
  proto: 'tcp' | 'udp'
  /** Absent: every address of the host. */
  hostIp?: string
  hostPort: number
  containerPort: number
}

/** Every weft network of the cluster (not only this host's): what the way out must never enter. */
export interface ClusterSubnetSpec {
  vni: number
  subnet: string
  internal: boolean
}

/** A container's endpoint on this host. */
export interface LocalEndpointSpec {
  /** Endpoint id (64 hex). */
  id: string
  vni: number
  ip: string
  /** "02:42:" + the 4 IP bytes, lower-case hex with colons. */
  mac: string
  /** ip-netns name, /proc/PID/ns/net, or a path to a netns file. */
  sandbox: string
  /** Interface name inside the sandbox, e.g. "eth0". */
  ifname: string
  /** Host-side veth name (<= 15 chars), chosen by the caller, e.g. "wf" + 10 hex of the id. */
  hostIfname: string
  /** Ports published on this host to the endpoint (default none). */
  publish?: PublishedPortSpec[]
  /**
   * "docker": make the pair in the host netns and leave the other end (handOverIfnameFor(id))
   * for Docker to move, address and route; `sandbox` and `ifname` are then not used.
   */
  plumbing?: 'docker'
}

/** An endpoint behind another VTEP (another weft host, or an external VTEP). */
export interface RemoteEndpointSpec {
  vni: number
  ip: string
  mac: string
  /** Underlay IPv4 address of the VTEP that owns it. */
  vtep: string
}

/** What the datapath holds right now, read back from the kernel (maps, links). */
export interface ActualState {
  /** subnet/gateway/mtu: as the datapath holds them, where it can tell (drift compares them). */
  networks: { vni: number; subnet?: string; gateway?: string; mtu?: number }[]
  /**
   * `hostIfname` is absent when forwarding state remains for a host veth that is gone (its
   * sandbox was deleted, which deletes both ends): `detachEndpoint` without a name clears it.
   * `mac` and `forwarding` (the address leads to this veth with this MAC), where the datapath
   * can tell: drift compares them.
   */
  localEndpoints: {
    vni: number
    ip: string
    hostIfname?: string
    ifindex: number
    mac?: string
    forwarding?: boolean
  }[]
  remoteEndpoints: RemoteEndpointSpec[]
  members: { vni: number; vteps: string[] }[]
  /** Parts of the datapath itself missing or changed behind its back; `start()` puts them back. */
  faults?: DatapathFault[]
}

/** A part of the datapath's own base that is not as it made it. */
export interface DatapathFault {
  part: 'pin' | 'underlay-link' | 'config' | 'gro'
  /** In words, e.g. "map pin /sys/fs/bpf/weft/n1/vx_eps is missing". */
  detail: string
}

/** Per-VNI counters, summed over CPUs. */
export interface VniStats {
  vni: number
  txPackets: bigint
  txBytes: bigint
  rxPackets: bigint
  rxBytes: bigint
  /** Drops by reason name (see DROP_REASONS in the bpf implementation). */
  drops: Record<string, bigint>
  /** Way out (datapaths that have one): packets that left every weft network through this host. */
  outPackets?: bigint
  outBytes?: bigint
  /** Ports published on this host to endpoints of this network. */
  published?: PublishedPortStats[]
}

/** One published port's traffic. */
export interface PublishedPortStats {
  /** HOST_IP:HOST_PORT->CONTAINER_PORT/proto */
  port: string
  /** The endpoint it leads to. */
  ip: string
  connections: bigint
  /** Towards the container. */
  packets: bigint
  bytes: bigint
}

export interface DatapathOptions {
  /** Node name: pins live under /sys/fs/bpf/weft/<node>/, host objects carry it. */
  node: string
  /** Underlay IPv4 address of this host (its VTEP). The NIC carrying it is the underlay NIC. */
  advertise: string
  /**
   * Told what `start()` removed of the other datapath on this host (a switch bpf <-> kernel
   * in place: the endpoint veths stay and are re-plumbed), so the agent can log it.
   */
  onTakeOver?: (t: { from: 'bpf' | 'kernel'; removed: string[] }) => void
}

export interface Datapath {
  readonly kind: 'bpf' | 'kernel'
  /**
   * Attach to the underlay NIC or adopt what a previous process pinned. Idempotent: called
   * again, it puts back the parts `actual().faults` reports.
   */
  start(): Promise<void>
  upsertNetwork(net: NetworkSpec): Promise<void>
  /** Removes the network and everything programmed for it. */
  removeNetwork(vni: number): Promise<void>
  /**
   * Create the veth pair, move one end into the sandbox as `ifname`, set MAC, address/prefix
   * (and, where the datapath has a way out and the network is not internal, a default route
   * via the gateway), MTU, and program forwarding for it and its published ports. The network (by vni) must have been upserted first.
   * An existing endpoint with the same hostIfname is adopted.
   */
  attachEndpoint(ep: LocalEndpointSpec): Promise<{ ifindex: number }>
  /**
   * Delete the veth pair (both ends) and the forwarding state. Missing is fine. Without
   * `hostIfname` (the veth is already gone) only forwarding state that no live veth holds is cleared.
   */
  detachEndpoint(ep: { vni: number; ip: string; hostIfname?: string }): Promise<void>
  upsertRemoteEndpoint(ep: RemoteEndpointSpec): Promise<void>
  removeRemoteEndpoint(ep: { vni: number; ip: string }): Promise<void>
  /**
   * The VTEPs admitted for a VNI: outer sources allowed to send it to us, and the
   * head-end replication list for broadcast. Replaces the previous set.
   */
  setMembers(vni: number, vteps: string[]): Promise<void>
  /**
   * Every weft subnet of the cluster, for isolation on the way out (replaces the previous set).
   * Only datapaths with a way out (bpf) have it.
   */
  setClusterSubnets?(subnets: ClusterSubnetSpec[]): Promise<void>
  actual(): Promise<ActualState>
  stats(): Promise<VniStats[]>
  /** Release fds and handles; leave the kernel state in place (live restore). */
  close(): Promise<void>
  /**
   * Remove everything this node's datapath created: links, pins, devices. The other datapath's
   * leftovers too: see teardownNode (src/datapath/teardown.ts), which says what it removed.
   */
  teardown(): Promise<void>
}
