// A recording fake of the Datapath contract (src/datapath/types.ts) for fast unit tests of
// the reconciler, without root or a kernel. It holds state in memory with the bpf datapath's
// rules (a network before its endpoints, an address is local or remote, never both), records
// every call in order, can be told to fail chosen calls, and can lose a veth as a deleted
// sandbox does (actual() then reports that endpoint without a host ifname).
import type {
  ActualState,
  Datapath,
  LocalEndpointSpec,
  NetworkSpec,
  RemoteEndpointSpec,
  VniStats,
} from '../../src/datapath/types.ts'

export type DatapathMethod =
  | 'start'
  | 'upsertNetwork'
  | 'removeNetwork'
  | 'attachEndpoint'
  | 'detachEndpoint'
  | 'upsertRemoteEndpoint'
  | 'removeRemoteEndpoint'
  | 'setMembers'
  | 'actual'
  | 'stats'
  | 'close'
  | 'teardown'

export interface RecordedCall {
  method: DatapathMethod
  /** The call's subject in one string: "256" for a network or members, the host ifname, "vni/ip". */
  item: string
  args: unknown[]
}

interface LocalEntry {
  vni: number
  ip: string
  ifindex: number
  /** The veth is gone (its sandbox was deleted); the forwarding state stays until detached. */
  vanished: boolean
}

export class FakeDatapath implements Datapath {
  readonly kind = 'bpf' as const
  readonly calls: RecordedCall[] = []
  readonly networks = new Map<number, NetworkSpec>()
  /** by host ifname */
  readonly local = new Map<string, LocalEntry>()
  /** by "vni/ip" */
  readonly remote = new Map<string, RemoteEndpointSpec>()
  readonly members = new Map<number, string[]>()
  private failures: { method: DatapathMethod; item?: string; error: string; times: number }[] = []
  private nextIfindex = 100

  /**
   * Make calls of `method` (on `item`, or any item) throw `error`, `times` times (default:
   * until `heal`). The failing call records itself and changes nothing.
   */
  failOn(
    method: DatapathMethod,
    item?: string,
    error = `injected ${method} failure`,
    times = Infinity,
  ): this {
    this.failures.push({ method, item, error, times })
    return this
  }

  /** Stop failing (all calls, or those of `method`). */
  heal(method?: DatapathMethod): this {
    this.failures = method ? this.failures.filter((f) => f.method !== method) : []
    return this
  }

  /** The veth of a local endpoint is gone, as when its sandbox is deleted. */
  vanish(hostIfname: string): void {
    const e = this.local.get(hostIfname)
    if (!e) throw new Error(`fake datapath: no local endpoint ${hostIfname}`)
    e.vanished = true
  }

  /** Calls since the last `clearCalls`, as "method item" strings (actual/stats left out). */
  log(): string[] {
    return this.calls
      .filter((c) => c.method !== 'actual' && c.method !== 'stats')
      .map((c) => `${c.method} ${c.item}`)
  }

  clearCalls(): void {
    this.calls.length = 0
  }

  private record(method: DatapathMethod, item: string, args: unknown[]): void {
    this.calls.push({ method, item, args })
    const f = this.failures.find(
      (x) => x.method === method && (x.item === undefined || x.item === item) && x.times > 0,
    )
    if (f) {
      f.times--
      throw new Error(f.error)
    }
  }

  async start(): Promise<void> {
    this.record('start', '', [])
  }

  async upsertNetwork(net: NetworkSpec): Promise<void> {
    this.record('upsertNetwork', String(net.vni), [net])
    this.networks.set(net.vni, { ...net })
  }

  async removeNetwork(vni: number): Promise<void> {
    this.record('removeNetwork', String(vni), [vni])
    this.networks.delete(vni)
    this.members.delete(vni)
    for (const [k, e] of this.local) if (e.vni === vni) this.local.delete(k)
    for (const [k, r] of this.remote) if (r.vni === vni) this.remote.delete(k)
  }

  async attachEndpoint(ep: LocalEndpointSpec): Promise<{ ifindex: number }> {
    this.record('attachEndpoint', ep.hostIfname, [ep])
    if (!this.networks.has(ep.vni))
      throw new Error(
        `network with VNI ${ep.vni} is not set up on this host: upsert the network first`,
      )
    for (const [name, e] of this.local) {
      if (name !== ep.hostIfname && !e.vanished && e.vni === ep.vni && e.ip === ep.ip) {
        throw new Error(
          `address ${ep.ip} in network ${ep.vni} is already used by local endpoint ${name}`,
        )
      }
    }
    // an address reused on this host replaces the forwarding state a vanished veth left
    for (const [name, e] of this.local)
      if (e.vanished && e.vni === ep.vni && e.ip === ep.ip) this.local.delete(name)
    this.remote.delete(`${ep.vni}/${ep.ip}`)
    const had = this.local.get(ep.hostIfname)
    const ifindex = had && !had.vanished ? had.ifindex : this.nextIfindex++
    this.local.set(ep.hostIfname, { vni: ep.vni, ip: ep.ip, ifindex, vanished: false })
    return { ifindex }
  }

  async detachEndpoint(ep: { vni: number; ip: string; hostIfname?: string }): Promise<void> {
    if (ep.hostIfname === '')
      throw new Error('host interface name "" must be 1..15 characters long')
    this.record('detachEndpoint', ep.hostIfname ?? `${ep.vni}/${ep.ip}`, [ep])
    if (ep.hostIfname !== undefined) {
      this.local.delete(ep.hostIfname)
      return
    }
    for (const [name, e] of this.local)
      if (e.vanished && e.vni === ep.vni && e.ip === ep.ip) this.local.delete(name)
  }

  async upsertRemoteEndpoint(ep: RemoteEndpointSpec): Promise<void> {
    this.record('upsertRemoteEndpoint', `${ep.vni}/${ep.ip}`, [ep])
    if (!this.networks.has(ep.vni))
      throw new Error(
        `network with VNI ${ep.vni} is not set up on this host: upsert the network first`,
      )
    for (const e of this.local.values()) {
      if (e.vni === ep.vni && e.ip === ep.ip) {
        throw new Error(
          `address ${ep.ip} in network ${ep.vni} is a local endpoint of this host: detach it before declaring it remote`,
        )
      }
    }
    this.remote.set(`${ep.vni}/${ep.ip}`, { ...ep })
  }

  async removeRemoteEndpoint(ep: { vni: number; ip: string }): Promise<void> {
    this.record('removeRemoteEndpoint', `${ep.vni}/${ep.ip}`, [ep])
    this.remote.delete(`${ep.vni}/${ep.ip}`)
  }

  async setMembers(vni: number, vteps: string[]): Promise<void> {
    this.record('setMembers', String(vni), [vni, vteps])
    if (!this.networks.has(vni))
      throw new Error(
        `network with VNI ${vni} is not set up on this host: upsert the network first`,
      )
    this.members.set(vni, [...vteps].sort())
  }

  async actual(): Promise<ActualState> {
    this.record('actual', '', [])
    const vnis = [...this.networks.keys()].sort((a, b) => a - b)
    return {
      networks: vnis.map((vni) => ({ vni })),
      localEndpoints: [...this.local].map(([name, e]) => ({
        vni: e.vni,
        ip: e.ip,
        ifindex: e.ifindex,
        ...(!e.vanished && { hostIfname: name }),
      })),
      remoteEndpoints: [...this.remote.values()].map((r) => ({ ...r })),
      members: vnis.map((vni) => ({ vni, vteps: [...(this.members.get(vni) ?? [])] })),
    }
  }

  async stats(): Promise<VniStats[]> {
    this.record('stats', '', [])
    return []
  }

  async close(): Promise<void> {
    this.record('close', '', [])
  }

  async teardown(): Promise<void> {
    this.record('teardown', '', [])
    this.networks.clear()
    this.local.clear()
    this.remote.clear()
    this.members.clear()
  }
}
