// Shapes the admin API answers with, as the CLI reads them (see src/api/schemas.ts).

export interface DockerNetwork {
  Name: string
  Id: string
  Created: string
  Scope: string
  Driver: string
  EnableIPv6: boolean
  IPAM: {
    Driver: string
    Options: null
    Config: { Subnet: string; Gateway: string; IPRange?: string }[]
  }
  Internal: boolean
  Attachable: boolean
  Containers: Record<
    string,
    {
      Name: string
      EndpointID: string
      MacAddress: string
      IPv4Address: string
      IPv6Address: string
      Node: string | null
      External: boolean
      VTEP?: string
      Status?: string
      Error?: string
    }
  >
  Options: Record<string, string>
  Labels: Record<string, string>
}

export interface Endpoint {
  id: string
  networkId: string
  name: string
  ip: string
  mac: string
  node?: string
  sandbox?: string
  ifname?: string
  vtep?: string
  external: boolean
  created: string
  status?: 'attached' | 'failed' | 'pending' | 'gone'
  error?: string
  /** Published ports, when the record has them (Docker's -p). */
  ports?: PublishedPort[]
}

export interface PublishedPort {
  proto: 'tcp' | 'udp'
  hostIp?: string
  hostPort: number
  containerPort: number
}

export interface Node {
  name: string
  alive: boolean
  endpoints: number
  /** Unknown while the agent asked cannot reach the store (statusReason says since when). */
  status?: 'Ready' | 'Down' | 'Unknown'
  statusReason?: string
  advertise?: string
  datapath?: string
  version?: string
  started?: string
  /** The answering agent's probes of this node's datapath (absent for itself and nodes it does not probe). */
  probe?: {
    state: 'up' | 'down' | 'unknown'
    vtep: string
    rttMs?: number
    loss: number
    pathMtu?: number
    mtuTarget: number
  }
}

export interface VniStats {
  vni: number
  network?: string
  txPackets: string
  txBytes: string
  rxPackets: string
  rxBytes: string
  drops: Record<string, string>
  outPackets?: string
  outBytes?: string
  published?: { port: string; ip: string; connections: string; packets: string; bytes: string }[]
}

/** The counters as numbers (the API sends u64 counters as decimal strings). */
export interface VniCounts {
  vni: number
  network?: string
  txPackets: number
  txBytes: number
  rxPackets: number
  rxBytes: number
  drops: Record<string, number>
}
