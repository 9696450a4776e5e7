// An in-process AgentApi for unit tests of the admin API: networks in a Map, two nodes,
// every call recorded, and any method can be made to throw a given error.
import { createHash } from 'node:crypto'
import type { AgentApi, EndpointStatus, HealthReport, NodeStatus } from '../../src/api/index.ts'
import type { NetworkRecord } from '../../src/cluster/index.ts'
import type { Logger } from '../../src/log.ts'

export const NODE_ADDRESSES = { h1: '192.168.50.1', h2: '192.168.50.2' } as const

export interface FakeAgent extends AgentApi {
  calls: string[]
  /** Make the next calls of `method` throw `error` (until cleared with undefined). */
  failWith(method: keyof AgentApi, error: unknown): void
  health(): Promise<HealthReport>
  healthReport: HealthReport
}

const id = (s: string) => createHash('sha256').update(s).digest('hex')

export function fakeAgent(): FakeAgent {
  const networks = new Map<string, NetworkRecord>()
  const failures = new Map<string, unknown>()
  const calls: string[] = []
  const call = (m: keyof AgentApi) => {
    calls.push(m)
    if (failures.has(m)) throw failures.get(m)
  }
  const nodes: NodeStatus[] = Object.entries(NODE_ADDRESSES).map(([name, advertise]) => ({
    name,
    alive: true,
    endpoints: 0,
    record: {
      name,
      advertise,
      datapath: 'bpf',
      version: 'test',
      started: new Date(0).toISOString(),
    },
  }))
  const fake: FakeAgent = {
    node: 'h1',
    calls,
    failWith: (m, e) => (e === undefined ? failures.delete(m) : failures.set(m, e), undefined),
    healthReport: {
      ok: true,
      node: 'h1',
      store: { reachable: true },
      datapath: 'bpf',
      reconcile: { passes: 1, lastDurationMs: 1, lastError: null },
    },
    async listNetworks() {
      call('listNetworks')
      return [...networks.values()]
    },
    async createNetwork(input) {
      call('createNetwork')
      const rec: NetworkRecord = {
        id: id(input.name),
        name: input.name,
        driver: 'overlay',
        scope: 'global',
        vni: input.vni ?? 256,
        subnet: input.subnet ?? '10.0.1.0/24',
        gateway: input.gateway ?? '10.0.1.1',
        mtu: input.mtu ?? 1450,
        labels: { ...input.labels },
        options: { ...input.options },
        created: new Date(0).toISOString(),
      }
      networks.set(rec.name, rec)
      return rec
    },
    async getNetwork(ref) {
      call('getNetwork')
      const n = networks.get(ref)
      if (!n) throw new Error(`fake: no network ${ref}`)
      return n
    },
    async removeNetwork(ref) {
      call('removeNetwork')
      const n = await fake.getNetwork(ref)
      networks.delete(ref)
      return n
    },
    async endpoints(): Promise<EndpointStatus[]> {
      call('endpoints')
      return []
    },
    async connect(input) {
      call('connect')
      const n = networks.get(input.network)
      if (!n) throw new Error(`fake: no network ${input.network}`)
      return {
        record: {
          id: id(`${input.network}/${input.sandbox ?? input.external?.name}`),
          networkId: n.id,
          name: input.sandbox ?? input.external!.name,
          ip: input.ip ?? '10.0.1.2',
          mac: '02:42:0a:00:01:02',
          external: !!input.external,
          ...(input.external
            ? { vtep: input.external.vtep }
            : { node: 'h1', sandbox: input.sandbox }),
          created: new Date(0).toISOString(),
        },
        status: 'attached',
      }
    },
    async disconnect() {
      call('disconnect')
      throw new Error('fake: disconnect not modelled')
    },
    async nodes() {
      call('nodes')
      return nodes
    },
    async stats() {
      call('stats')
      return []
    },
    async health() {
      call('health')
      return fake.healthReport
    },
    async metrics() {
      call('metrics')
      return ''
    },
  }
  return fake
}

export interface LogLine {
  level: 'error' | 'warn' | 'info'
  obj: Record<string, unknown>
  msg: string
}

/** A Logger that keeps what it is given (only the methods the API uses). */
export function captureLog(): { log: Logger; lines: LogLine[] } {
  const lines: LogLine[] = []
  const at = (level: LogLine['level']) => (obj: Record<string, unknown>, msg: string) =>
    void lines.push({ level, obj, msg })
  const log = {
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: () => {},
    child: () => log,
  } as unknown as Logger
  return { log, lines }
}
