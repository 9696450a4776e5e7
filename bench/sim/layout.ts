// The simulated cluster's shape: H hosts, E endpoints over M networks, each network spread over
// k hosts (p endpoints per host and network), and the store records that hold it
// (written straight into the store in 64-op transactions (the client cap), as if the cluster had grown so).
// E endpoints, networks of k hosts with p endpoints each: E / (k p) networks, E / (H p) per host.
import { createHash } from 'node:crypto'
import {
  keys,
  type EndpointRecord,
  type NetworkRecord,
  type NodeRecord,
} from '../../src/cluster/index.ts'
import { macFromIp } from '../../src/net/index.ts'
import type { ClusterStore, StoreOp } from '../../src/store/index.ts'

export interface Scenario {
  name: string
  hosts: number
  endpoints: number
  /** Hosts each network spans. */
  hostsPerNetwork: number
  /** Endpoints each of those hosts has in the network. */
  perHost: number
}

export interface SimNetwork {
  index: number
  record: NetworkRecord
  /** Host indexes the network spans. */
  hosts: number[]
}

export interface SimLayout {
  scenario: Scenario
  networks: SimNetwork[]
  /** Endpoint records by owning host. */
  endpointsByHost: EndpointRecord[][]
  /** Network indexes by host. */
  networksByHost: number[][]
  nodes: NodeRecord[]
}

const hex = (s: string) => createHash('sha256').update(s).digest('hex')
const CREATED = '2026-12-01T00:00:00.000Z'
export const nodeName = (h: number) => `sim-h${String(h).padStart(4, '0')}`

/** Address i (0-based) of network j: 10.<j/256>.<j%256>.<2+i>, a /24 per network. */
const ipOf = (j: number, i: number) => `10.${(j >> 8) & 255}.${j & 255}.${2 + i}`

export function simNetwork(j: number, hosts: number[]): SimNetwork {
  return {
    index: j,
    hosts,
    record: {
      id: hex(`sim-net-${j}`),
      name: `sim-net-${j}`,
      driver: 'overlay',
      scope: 'global',
      vni: 256 + j,
      subnet: `10.${(j >> 8) & 255}.${j & 255}.0/24`,
      gateway: `10.${(j >> 8) & 255}.${j & 255}.1`,
      mtu: 1450,
      labels: {},
      options: {},
      created: CREATED,
    },
  }
}

export function buildLayout(s: Scenario): SimLayout {
  const k = Math.min(s.hostsPerNetwork, s.hosts)
  const m = Math.max(1, Math.round(s.endpoints / (k * s.perHost)))
  if (m > 256 * 256)
    throw new Error(`scenario ${s.name}: ${m} networks do not fit 10.0.0.0/8 as /24s`)
  const perNet = Math.ceil(s.endpoints / m)
  if (perNet > 250)
    throw new Error(`scenario ${s.name}: ${perNet} endpoints per network do not fit a /24`)
  const endpointsByHost: EndpointRecord[][] = Array.from({ length: s.hosts }, () => [])
  const networksByHost: number[][] = Array.from({ length: s.hosts }, () => [])
  const networks: SimNetwork[] = []
  let made = 0
  for (let j = 0; j < m; j++) {
    // consecutive hosts from a start that walks the ring: every host gets about E/H endpoints
    const hosts = Array.from({ length: k }, (_, i) => (j * k + i) % s.hosts)
    const net = simNetwork(j, hosts)
    networks.push(net)
    for (const h of hosts) networksByHost[h]!.push(j)
    for (let i = 0; i < perNet && made < s.endpoints; i++, made++) {
      const h = hosts[i % k]!
      const ip = ipOf(j, i)
      endpointsByHost[h]!.push({
        id: hex(`sim-ep-${j}-${i}`),
        networkId: net.record.id,
        name: `sb-${j}-${i}`,
        ip,
        mac: macFromIp(ip),
        node: nodeName(h),
        sandbox: `sb-${j}-${i}`,
        ifname: 'eth0',
        external: false,
        created: CREATED,
      })
    }
  }
  const nodes = Array.from({ length: s.hosts }, (_, h): NodeRecord => ({
    name: nodeName(h),
    advertise: `198.18.${(h >> 8) & 255}.${h & 255}`,
    datapath: 'bpf',
    version: 'sim',
    started: CREATED,
  }))
  return { scenario: s, networks, endpointsByHost, networksByHost, nodes }
}

/** Write the layout into an empty store. */
export async function loadLayout(store: ClusterStore, l: SimLayout): Promise<void> {
  const ops: StoreOp[] = []
  const json = (o: unknown) => JSON.stringify(o)
  for (const n of l.nodes) ops.push({ op: 'put', key: keys.node(n.name), value: json(n) })
  for (const { record: r } of l.networks) {
    ops.push({ op: 'put', key: keys.network(r.id), value: json(r) })
    ops.push({ op: 'put', key: keys.name(r.name), value: r.id })
    ops.push({ op: 'put', key: keys.vni(r.vni), value: r.id })
  }
  for (const eps of l.endpointsByHost) {
    for (const e of eps) {
      ops.push({ op: 'put', key: keys.ipam(e.networkId, e.ip), value: e.id })
      ops.push({ op: 'put', key: keys.endpoint(e.networkId, e.id), value: json(e) })
    }
  }
  for (let i = 0; i < ops.length; i += 64) {
    const out = await store.txn(ops.slice(i, i + 64))
    if (!out.ok) throw new Error(`loading the simulated cluster failed at op ${i}`)
  }
}
