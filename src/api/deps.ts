// What the admin API needs from the agent. The API validates and shapes; the agent does.
import type { CreateNetworkInput, ConnectInput } from '../cluster/operations.ts'
import type { EndpointRecord, NetworkRecord, NodeRecord } from '../cluster/index.ts'
import type { VniStats } from '../datapath/types.ts'
import type { DoctorQuery, DoctorReport } from '../doctor/types.ts'

export interface EndpointStatus {
  record: EndpointRecord
  /** Only for this node's endpoints: attached, failed (with error), pending, or gone (its sandbox is, the release is under way). */
  status?: 'attached' | 'failed' | 'pending' | 'gone'
  error?: string
}

export interface NodeStatus {
  name: string
  record?: NodeRecord
  /** The node's lease: its agent is alive. */
  alive: boolean
  endpoints: number
  /** What this agent's probes of the node's datapath say (src/probe); absent for itself and nodes it does not probe. */
  probe?: PeerProbeStatus
}

export interface PeerProbeStatus {
  /** up: its datapath answers (whatever its agent does); down: it answered before and is silent now; unknown: never answered. */
  state: 'up' | 'down' | 'unknown'
  vtep: string
  /** Smoothed round trip, ms. */
  rttMs?: number
  /** Share of the last 20 probes unanswered, 0..1. */
  loss: number
  /** Path MTU (IPv4 bytes) when known. */
  pathMtu?: number
  /** The largest packet the overlay sends it: network MTU + VXLAN overhead. */
  mtuTarget: number
}

/** One item the reconciler cannot program, as /healthz reports it. */
export interface HealthFailure {
  kind: string
  key: string
  subject: string
  op: string
  error: string
  /** ISO time of the first failure of this run. */
  since: string
  attempts: number
}

export interface HealthReport {
  ok: boolean
  node: string
  store: { reachable: boolean; lastError?: string; unreachableSince?: string; lastContact?: string }
  datapath: string
  reconcile: {
    passes: number
    lastDurationMs: number
    lastError: string | null
    failures?: HealthFailure[]
  }
}

export interface AgentApi {
  node: string
  listNetworks(): Promise<NetworkRecord[]>
  createNetwork(input: CreateNetworkInput): Promise<NetworkRecord>
  getNetwork(ref: string): Promise<NetworkRecord>
  removeNetwork(ref: string): Promise<NetworkRecord>
  /** Endpoints of one network (all nodes), or of every network. */
  endpoints(networkId?: string): Promise<EndpointStatus[]>
  connect(input: ConnectInput): Promise<EndpointStatus>
  disconnect(network: string, endpoint: string): Promise<EndpointRecord>
  nodes(): Promise<NodeStatus[]>
  stats(): Promise<VniStats[]>
  health(): Promise<HealthReport>
  /** weft doctor: what is wrong on a path (absent: the route answers 501). */
  doctor?(q: DoctorQuery): Promise<DoctorReport>
  /** Prometheus text exposition. */
  metrics(): Promise<string>
}
