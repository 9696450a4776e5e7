// Level-triggered reconciler: any wakeup (watch return, API write, timer) runs the same
// diff of desired state (local mirror of the cluster tree) against what the datapath
// holds, and applies the minimal set of idempotent operations. A wakeup is never trusted
// to mean "something changed"; a periodic resync re-reads the kernel's actual state, so
// the loop converges after a crash, a restart or a store outage.
import type { Datapath, LocalEndpointSpec, NetworkSpec, RemoteEndpointSpec } from '../datapath/types.ts'
import { desiredState, remoteKey } from './desired.ts'
import type { ClusterView } from '../cluster/index.ts'

export { desiredState, remoteKey } from './desired.ts'
export type { DesiredState } from './desired.ts'

export interface ReconcilerDeps {
  datapath: Datapath
  node: string
  /** Current cluster view (from the local mirror). */
  view: () => ClusterView
  /** Host-local facts sink: an attach finished, with its ifindex or its error. */
  onAttached?: (spec: LocalEndpointSpec, result: { ifindex: number } | { error: string }) => Promise<void> | void
  /** Host-local facts sink: the endpoint on this host veth was detached. */
  onDetached?: (hostIfname: string) => Promise<void> | void
  log?: { info: (o: object, m?: string) => void; warn: (o: object, m?: string) => void }
  /** Full resync period (re-read actual state from the kernel). */
  resyncMs?: number
  /** Endpoint attaches run this many at a time (each is a few `ip` calls; the kernel serialises much of it). */
  attachConcurrency?: number
}

/** What we believe the datapath holds: seeded from datapath.actual(), then kept in step. */
interface Programmed {
  networks: Map<number, string>
  /** host ifname -> fingerprint ('' when adopted from the kernel) + what detach needs */
  local: Map<string, { fp: string; vni: number; ip: string }>
  remote: Map<string, string>
  members: Map<number, string>
}

type WithFp<K, S> = Map<K, { spec: S; fp: string }>

/** The desired state (see desired.ts) with fingerprints, for one view. */
interface Desired {
  view: ClusterView
  networks: WithFp<number, NetworkSpec>
  local: WithFp<string, LocalEndpointSpec>
  remote: WithFp<string, RemoteEndpointSpec>
  members: Map<number, string[]>
}

export interface ReconcileStats {
  passes: number
  lastDurationMs: number
  lastError: string | null
  /** Total ms of all passes (for the Prometheus summary). */
  totalDurationMs: number
}

export class Reconciler {
  private programmed: Programmed | null = null
  private lastDesired: Desired | undefined
  /** Re-read the kernel at the start of the next pass (never mid-pass: attach waiters read `programmed`). */
  private resyncWanted = false
  private running: Promise<void> | null = null
  private again = false
  private timer: ReturnType<typeof setInterval> | null = null
  private waiters: (() => void)[] = []
  readonly stats: ReconcileStats = { passes: 0, lastDurationMs: 0, lastError: null, totalDurationMs: 0 }
  private failedLocal = new Map<string, string>()
  /** Callers waiting for one endpoint's attach to finish (by host ifname). */
  private attachWaiters = new Map<string, (() => void)[]>()

  constructor(private readonly deps: ReconcilerDeps) {}

  start(): void {
    this.timer = setInterval(() => this.resync(), this.deps.resyncMs ?? 30_000)
    this.trigger()
  }

  stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    return this.running ?? Promise.resolve()
  }

  /** Re-read the kernel's actual state at the start of the next pass. */
  resync(): void {
    this.resyncWanted = true
    this.trigger()
  }

  /** Schedule a pass; passes never overlap, and triggers during a pass coalesce into one more. */
  trigger(): void {
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.loop().finally(() => {
      this.running = null
    })
  }

  /** Resolves after a pass that started after this call has finished. */
  settled(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve)
      this.trigger()
    })
  }

  /** The error of the last attach of a local endpoint (by host ifname), if it failed. */
  /**
   * Resolves once the endpoint with this host ifname has been attached or has failed, so a
   * caller does not wait for the rest of the pass (other endpoints' attaches).
   */
  attachDone(hostIfname: string): Promise<void> {
    if (this.failedLocal.has(hostIfname) || this.programmed?.local.get(hostIfname)?.fp) return Promise.resolve()
    return new Promise((resolve) => {
      const list = this.attachWaiters.get(hostIfname) ?? []
      list.push(resolve)
      this.attachWaiters.set(hostIfname, list)
      this.trigger()
    })
  }

  /** Whether the endpoint with this host ifname is programmed (as far as this process knows). */
  isAttached(hostIfname: string): boolean {
    return !!this.programmed?.local.get(hostIfname)?.fp
  }

  private attachFinished(hostIfname: string): void {
    for (const w of this.attachWaiters.get(hostIfname) ?? []) w()
    this.attachWaiters.delete(hostIfname)
  }

  localError(hostIfname: string): string | undefined {
    return this.failedLocal.get(hostIfname)
  }

  private async loop(): Promise<void> {
    do {
      this.again = false
      const waiters = this.waiters.splice(0)
      const t0 = performance.now()
      try {
        await this.pass()
        this.stats.lastError = null
      } catch (e) {
        this.stats.lastError = (e as Error).message
        this.deps.log?.warn({ err: (e as Error).message }, 'reconcile pass failed; will retry on the next wakeup')
        this.resyncWanted = true
        // waiters learn about it through lastError instead of hanging until the next pass
        for (const h of [...this.attachWaiters.keys()]) this.attachFinished(h)
      }
      const ms = performance.now() - t0
      this.stats.passes++
      this.stats.lastDurationMs = ms
      this.stats.totalDurationMs += ms
      for (const w of waiters) w()
    } while (this.again)
  }

  /**
   * What the kernel holds. A network or local endpoint we programmed earlier in this process and
   * the kernel still holds as we left it keeps its fingerprint; any other (first pass after a
   * start, or changed behind our back) gets '' and so one idempotent upsert/attach.
   */
  private async readActual(prev: Programmed | null): Promise<Programmed> {
    const a = await this.deps.datapath.actual()
    const localFp = (e: { hostIfname: string; vni: number; ip: string }) => {
      const had = prev?.local.get(e.hostIfname)
      return had && e.hostIfname && had.vni === e.vni && had.ip === e.ip ? had.fp : ''
    }
    return {
      networks: new Map(a.networks.map((n) => [n.vni, prev?.networks.get(n.vni) ?? ''])),
      local: new Map(a.localEndpoints.map((e) => [e.hostIfname, { fp: localFp(e), vni: e.vni, ip: e.ip }])),
      remote: new Map(a.remoteEndpoints.map((r) => [remoteKey(r.vni, r.ip), fingerprint(r)])),
      members: new Map(a.members.map((m) => [m.vni, [...m.vteps].sort().join(',')])),
    }
  }

  /**
   * Desired state with every fingerprint, derived once per view: a burst of wakeups with the
   * same view (watch returns, attach waiters) costs one derivation, not one per pass.
   */
  private desired(): Desired {
    const view = this.deps.view()
    if (this.lastDesired?.view === view) return this.lastDesired
    const d = desiredState(view, this.deps.node)
    const withFp = <K, S extends NetworkSpec | LocalEndpointSpec | RemoteEndpointSpec>(m: Map<K, S>) =>
      new Map([...m].map(([k, spec]) => [k, { spec, fp: fingerprint(spec) }]))
    this.lastDesired = { view, networks: withFp(d.networks), local: withFp(d.local), remote: withFp(d.remote), members: d.members }
    return this.lastDesired
  }

  private async pass(): Promise<void> {
    const dp = this.deps.datapath
    if (this.resyncWanted || !this.programmed) {
      this.resyncWanted = false
      this.programmed = await this.readActual(this.programmed)
    }
    const p = this.programmed
    const d = this.desired()

    // 1. networks first: endpoints need them
    for (const [vni, { spec, fp }] of d.networks) {
      if (p.networks.get(vni) === fp) continue
      await dp.upsertNetwork(spec)
      p.networks.set(vni, fp)
    }
    // 2. local endpoints no longer wanted, or changed (detached before anything reuses their address)
    const wantLocal = d.local
    for (const [ifname, had] of p.local) {
      const want = wantLocal.get(ifname)
      // a changed endpoint (same veth, other address) is detached and attached anew;
      // one adopted from the kernel ('' fingerprint) gets the idempotent attach below instead
      if (want && (had.fp === want.fp || had.fp === '')) continue
      await dp.detachEndpoint({ vni: had.vni, ip: had.ip, hostIfname: ifname })
      p.local.delete(ifname)
      this.failedLocal.delete(ifname)
      await this.deps.onDetached?.(ifname)
    }
    // 3. remote endpoints
    for (const key of [...p.remote.keys()]) {
      if (d.remote.has(key)) continue
      const [vni, ip] = key.split('/')
      await dp.removeRemoteEndpoint({ vni: Number(vni), ip: ip! })
      p.remote.delete(key)
    }
    for (const [key, { spec, fp }] of d.remote) {
      if (p.remote.get(key) === fp) continue
      await dp.upsertRemoteEndpoint(spec)
      p.remote.set(key, fp)
    }
    // 4. VTEP membership per VNI
    for (const [vni, vteps] of d.members) {
      const fp = vteps.join(',')
      if (p.members.get(vni) === fp) continue
      await dp.setMembers(vni, vteps)
      p.members.set(vni, fp)
    }
    // 5. new and changed local endpoints, last: when a connect returns, its container can
    // already reach the network's other endpoints (the kernel datapath would otherwise leave
    // the container's first ARP unanswered and wait out a 1 s retransmit)
    const toAttach = [...wantLocal.values()].filter((w) => p.local.get(w.spec.hostIfname)?.fp !== w.fp)
    await runLimited(toAttach, this.deps.attachConcurrency ?? 8, async ({ spec, fp }) => {
      // Plumbing makes synchronous kernel calls that may wait on RTNL: let the event loop
      // (API requests, the store's answers) run between two endpoints, not only after the pass.
      await yieldToEventLoop()
      try {
        const r = await dp.attachEndpoint(spec)
        p.local.set(spec.hostIfname, { fp, vni: spec.vni, ip: spec.ip })
        this.failedLocal.delete(spec.hostIfname)
        await this.deps.onAttached?.(spec, r)
      } catch (e) {
        const msg = (e as Error).message
        this.failedLocal.set(spec.hostIfname, msg)
        this.deps.log?.warn({ endpoint: spec.id, err: msg }, 'attach endpoint failed')
        await this.deps.onAttached?.(spec, { error: msg })
      }
      this.attachFinished(spec.hostIfname)
    })
    // 6. networks no longer wanted, after their endpoints are gone
    for (const vni of [...p.networks.keys()]) {
      if (d.networks.has(vni)) continue
      await dp.removeNetwork(vni)
      p.networks.delete(vni)
      p.members.delete(vni)
      for (const key of [...p.remote.keys()]) if (key.startsWith(`${vni}/`)) p.remote.delete(key)
    }
  }
}

function fingerprint(o: NetworkSpec | LocalEndpointSpec | RemoteEndpointSpec): string {
  return JSON.stringify(o)
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

async function runLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!)
  })
  await Promise.all(workers)
}
