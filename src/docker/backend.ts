// The one interface the Docker plugin uses to reach the rest of weft. The plugin never reads
// the cluster tree or talks to the datapath itself: whatever implements this (see
// cluster-backend.ts) owns those. Reads are from the agent's local view (fast, maybe a
// little behind); writes go to the cluster store and are in the view when they resolve.
import type { EndpointRecord, NetworkRecord } from '../cluster/index.ts'

export type { EndpointRecord, NetworkRecord }

/** What `docker network create` (or the agent, for other hosts) asks weft to create. */
export interface NewNetwork {
  name: string
  subnet: string
  gateway?: string
  ipRange?: string
  vni?: number
  mtu?: number
  labels: Record<string, string>
  options: Record<string, string>
  /** --internal: no way out. */
  internal?: boolean
}

/** An endpoint record for a Docker endpoint on this node (the address is reserved first). */
export interface NewDockerEndpoint {
  networkId: string
  /** The weft endpoint id reserved with the address (allocateAddress). */
  id: string
  ip: string
  mac: string
  /** Endpoint name (the container's name once known; Docker's endpoint id until then). */
  name: string
  dockerEndpoint: string
}

export interface DockerBackend {
  /** This node's name. */
  readonly node: string
  /** All networks (local view). */
  networks(): NetworkRecord[]
  /** A network by weft id (local view). */
  network(id: string): NetworkRecord | undefined
  /** A network by name (local view). */
  networkByName(name: string): NetworkRecord | undefined
  createNetwork(input: NewNetwork): Promise<NetworkRecord>
  /** Refused (ConflictError) while endpoints are attached anywhere. */
  removeNetwork(id: string): Promise<void>
  /**
   * Reserve an address cluster-wide (the requested one, or the lowest free) under a new
   * endpoint id; nobody else gets it until releaseAddress or removeEndpoint.
   */
  allocateAddress(networkId: string, requested?: string): Promise<{ ip: string; id: string }>
  /** Give back a reservation that never became an endpoint. Missing is fine. */
  releaseAddress(networkId: string, ip: string, id: string): Promise<void>
  /**
   * Reclaim this node's reservations older than maxAgeMs that no endpoint took (their agent
   * died between RequestAddress and CreateEndpoint): address and record go. Returns those freed.
   */
  reclaimReservations(maxAgeMs: number): Promise<{ id: string; networkId: string; ip: string }[]>
  /**
   * The endpoint id of this node's reservation of an address that no endpoint took yet (from
   * its reservation record: also one a previous run of this agent made).
   */
  reservationOf(networkId: string, ip: string): Promise<string | undefined>
  /** The endpoint id an address is reserved under, if any (asks the store). */
  addressOwner(networkId: string, ip: string): Promise<string | undefined>
  /**
   * Write the endpoint record and wait until this node's datapath made the host end and the
   * handed-over end (handOverIfnameFor(id)) of its veth pair.
   */
  createEndpoint(input: NewDockerEndpoint): Promise<EndpointRecord>
  /**
   * Name an endpoint: the container's name and --network-alias values, learnt after Join, and
   * the container's netns (Join's SandboxKey: names put a resolver there).
   */
  renameEndpoint(
    networkId: string,
    id: string,
    name: string,
    aliases: string[],
    dockerSandbox?: string,
  ): Promise<void>
  /** Remove the record and its address, and wait until the datapath dropped the pair. Missing is fine. */
  removeEndpoint(networkId: string, id: string): Promise<void>
  /** Endpoints of this node that Docker plumbs (local view). */
  dockerEndpoints(): EndpointRecord[]
  /** Called after every change of the local view; returns the unsubscribe. */
  onChange(listener: () => void): () => void
}
