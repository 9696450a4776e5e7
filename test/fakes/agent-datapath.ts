// A recording fake Datapath for the agent's unit tests (no kernel): it keeps what it was told
// in memory, records every call, and fails the calls a test tells it to fail.
import type {
  ActualState,
  Datapath,
  LocalEndpointSpec,
  NetworkSpec,
  RemoteEndpointSpec,
  VniStats,
} from '../../src/datapath/types.ts'

export interface RecordedCall {
  op: string
  arg: unknown
}

export class AgentFakeDatapath implements Datapath {
  readonly kind = 'bpf' as const
  readonly calls: RecordedCall[] = []
  readonly networks = new Map<number, NetworkSpec>()
  readonly local = new Map<string, LocalEndpointSpec>()
  readonly remote = new Map<string, RemoteEndpointSpec>()
  readonly members = new Map<number, string[]>()
  /** Attaches of these sandboxes fail with the given message. */
  readonly failAttach = new Map<string, string>()
  /** upsertNetwork of these VNIs fails with the given message (a pass-wide failure). */
  readonly failNetwork = new Map<number, string>()
  /** upsertRemoteEndpoint in these VNIs fails with the given message (a pass-wide failure). */
  readonly failRemote = new Map<number, string>()
  /** actual() fails with this message (a whole pass fails: no item is to blame). */
  failActual: string | undefined
  /** Resolves the next attach only when released (to hold an attach in flight). */
  attachGate: Promise<void> | undefined
  private nextIfindex = 100

  private record(op: string, arg: unknown): void {
    this.calls.push({ op, arg })
  }

  callsOf(op: string): unknown[] {
    return this.calls.filter((c) => c.op === op).map((c) => c.arg)
  }

  async start(): Promise<void> {
    this.record('start', null)
  }

  async upsertNetwork(net: NetworkSpec): Promise<void> {
    this.record('upsertNetwork', net)
    const fail = this.failNetwork.get(net.vni)
    if (fail) throw new Error(fail)
    this.networks.set(net.vni, net)
  }

  async removeNetwork(vni: number): Promise<void> {
    this.record('removeNetwork', vni)
    this.networks.delete(vni)
    this.members.delete(vni)
  }

  async attachEndpoint(ep: LocalEndpointSpec): Promise<{ ifindex: number }> {
    this.record('attachEndpoint', ep)
    if (this.attachGate) await this.attachGate
    const fail = this.failAttach.get(ep.sandbox)
    if (fail) throw new Error(fail)
    if (!this.networks.has(ep.vni)) throw new Error(`network vni ${ep.vni} is not programmed`)
    this.local.set(ep.hostIfname, ep)
    return { ifindex: this.nextIfindex++ }
  }

  async detachEndpoint(ep: { vni: number; ip: string; hostIfname: string }): Promise<void> {
    this.record('detachEndpoint', ep)
    this.local.delete(ep.hostIfname)
  }

  async upsertRemoteEndpoint(ep: RemoteEndpointSpec): Promise<void> {
    this.record('upsertRemoteEndpoint', ep)
    const fail = this.failRemote.get(ep.vni)
    if (fail) throw new Error(fail)
    this.remote.set(`${ep.vni}/${ep.ip}`, ep)
  }

  async removeRemoteEndpoint(ep: { vni: number; ip: string }): Promise<void> {
    this.record('removeRemoteEndpoint', ep)
    this.remote.delete(`${ep.vni}/${ep.ip}`)
  }

  async setMembers(vni: number, vteps: string[]): Promise<void> {
    this.record('setMembers', { vni, vteps })
    this.members.set(vni, vteps)
  }

  async actual(): Promise<ActualState> {
    if (this.failActual) throw new Error(this.failActual)
    return {
      networks: [...this.networks.keys()].map((vni) => ({ vni })),
      localEndpoints: [...this.local.values()].map((e, i) => ({
        vni: e.vni,
        ip: e.ip,
        hostIfname: e.hostIfname,
        ifindex: 100 + i,
      })),
      remoteEndpoints: [...this.remote.values()],
      members: [...this.members].map(([vni, vteps]) => ({ vni, vteps })),
    }
  }

  async stats(): Promise<VniStats[]> {
    return [...this.networks.keys()].map((vni) => ({
      vni,
      txPackets: 0n,
      txBytes: 0n,
      rxPackets: 0n,
      rxBytes: 0n,
      drops: {},
    }))
  }

  async close(): Promise<void> {
    this.record('close', null)
  }

  async teardown(): Promise<void> {
    this.record('teardown', null)
    this.networks.clear()
    this.local.clear()
    this.remote.clear()
    this.members.clear()
  }
}
