// Level-triggered reconciler: any wakeup (watch return, API write, timer) runs the same
// diff of desired state (local mirror of the cluster tree) against what the datapath
// holds, and applies the minimal set of idempotent operations. A wakeup is never trusted
// to mean "something changed"; a periodic resync re-reads the kernel's actual state, so
// the loop converges after a crash, a restart or a store outage.
//
// Design notes (2026-12, issue 12): every item (a network, a local endpoint, a remote
// endpoint, the members of a VNI) is programmed on its own. One that fails is recorded in
// the failure book (failures.ts), logged, counted by kind, and retried on a later pass after
// a backoff (or at once when its desired spec changes); it never stops the rest of the pass.
// Before this, one bad item (a deleted sandbox's veth read back as an empty name) threw out
// of every pass, and from then on the host programmed nothing.
import type { Datapath, LocalEndpointSpec, RemoteEndpointSpec } from '../datapath/types.ts'
import type { ClusterView } from '../cluster/index.ts'
import type { ViewChange } from '../cluster/view.ts'
import type { PeerLiveness } from './desired.ts'
import { DesiredTracker, fingerprinted, type Desired, type Scope } from './desired-tracker.ts'
import { FailureBook, type ItemFailure, type ItemKind, type ItemRef } from './failures.ts'
import {
  attachItem,
  detachItem,
  membersItem,
  networkItem,
  remoteItem,
  remoteKey,
  SUBNETS_KEY,
  subnetsItem,
  vanishedKey,
} from './items.ts'

export interface ReconcilerDeps {
  datapath: Datapath
  node: string
  /** Current cluster view (from the local mirror). */
  view: () => ClusterView
  /**
   * The view's change events (the mirror's onChange): with them a pass derives and compares only
   * the networks a change touched; without them (or for a view that changed without one) every
   * pass is a full one. Subscribed from construction to stop(), each event also triggers a pass.
   */
  changes?: (listener: (change: ViewChange) => void) => () => void
  /** Remote nodes' datapaths as probes see them (src/probe); without it the lease alone decides. */
  peers?: PeerLiveness
  /** Host-local facts sink: an attach finished, with its ifindex or its error. */
  onAttached?: (
    spec: LocalEndpointSpec,
    result: { ifindex: number } | { error: string },
  ) => Promise<void> | void
  /** Host-local facts sink: the endpoint on this host veth was detached (or, never attached, is no longer wanted). */
  onDetached?: (hostIfname: string) => Promise<void> | void
  log?: { info: (o: object, m?: string) => void; warn: (o: object, m?: string) => void }
  /**
   * False while the view may lack endpoints this host has (an agent restarted before the store
   * answered): local endpoints the view does not know are then kept, not detached.
   */
  mayDetachUnknown?: () => boolean
  /** Full resync period (re-read actual state from the kernel, derive and compare every item). */
  resyncMs?: number
  /** Endpoint attaches run this many at a time (the kernel serialises much of it anyway). */
  attachConcurrency?: number
  /** First retry delay of a failed item; doubles per failed attempt up to `retryMaxMs`. */
  retryBaseMs?: number
  retryMaxMs?: number
  /** Clock for the failure book (tests). */
  now?: () => number
}

/** What we believe the datapath holds: seeded from datapath.actual(), then kept in step. */
interface Programmed {
  networks: Map<number, string>
  /**
   * host ifname (or vanishedKey for state whose veth is gone) -> fingerprint ('' when adopted
   * from the kernel) + what detach needs
   */
  local: Map<string, { fp: string; vni: number; ip: string; hostIfname?: string }>
  remote: Map<string, string>
  members: Map<number, string>
  /** fingerprint of the cluster subnets last set (setClusterSubnets) */
  subnets?: string
}

export interface ReconcileStats {
  passes: number
  lastDurationMs: number
  /**
   * Why the last pass could not run (the datapath's state could not be read), or else a
   * one-line summary of the items failing now; null when everything is programmed.
   */
  lastError: string | null
  /** Total ms of all passes (for the Prometheus summary). */
  totalDurationMs: number
  /** Times the desired state was derived from a new view (or new peer judgements). */
  derivations: number
  /** Passes that read the datapath's actual state from the kernel first (resyncs). */
  kernelReads: number
  /** Passes that compared every item (the others compared only what changed networks hold). */
  fullPasses: number
  /** Items (desired or programmed) the passes compared. */
  itemsCompared: number
}

export class Reconciler {
  private programmed: Programmed | null = null
  private lastDesired: Desired | undefined
  private readonly tracker: DesiredTracker
  private unsubscribe: (() => void) | undefined
  /** Compare every item in the next pass (after an error, or once what was held back may go). */
  private fullWanted = true
  /** A pass kept an unknown endpoint or network because the view may lack it (mayDetachUnknown). */
  private heldUnknown = false
  /** Re-read the kernel at the start of the next pass (never mid-pass: attach waiters read `programmed`). */
  private resyncWanted = false
  /**
   * Write the cluster subnets again at the next pass even when unchanged (the periodic resync:
   * puts back a NAT table changed behind weft's back). Other resyncs (drift, retries) keep what
   * was written: each write spawns `nft`.
   */
  private subnetsRewriteWanted = false
  private running: Promise<void> | null = null
  private again = false
  private stopped = false
  private timer: ReturnType<typeof setInterval> | null = null
  private retryTimer: { at: number; t: ReturnType<typeof setTimeout> } | null = null
  private waiters: (() => void)[] = []
  readonly stats: ReconcileStats = {
    passes: 0,
    lastDurationMs: 0,
    lastError: null,
    totalDurationMs: 0,
    derivations: 0,
    kernelReads: 0,
    fullPasses: 0,
    itemsCompared: 0,
  }
  private readonly book: FailureBook
  /** Callers waiting for one endpoint's attach to finish (by host ifname). */
  private attachWaiters = new Map<string, (() => void)[]>()

  constructor(private readonly deps: ReconcilerDeps) {
    this.book = new FailureBook({
      retryBaseMs: deps.retryBaseMs,
      retryMaxMs: deps.retryMaxMs,
      now: deps.now,
    })
    this.tracker = new DesiredTracker(deps.node, { datapath: deps.datapath.kind })
    this.listen()
  }

  /** Hear the view's changes (from construction: a change before start() is not missed). */
  private listen(): void {
    this.unsubscribe ??= this.deps.changes?.((change) => {
      this.tracker.noteChange(change, this.deps.view())
      this.trigger()
    })
  }

  start(): void {
    this.stopped = false
    this.listen()
    this.timer = setInterval(() => {
      // the safety net: derive everything again too, not only what change events named
      this.subnetsRewriteWanted = true
      this.tracker.invalidate()
      this.resync()
    }, this.deps.resyncMs ?? 30_000)
    this.trigger()
  }

  stop(): Promise<void> {
    this.stopped = true
    this.unsubscribe?.()
    this.unsubscribe = undefined
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    if (this.retryTimer) clearTimeout(this.retryTimer.t)
    this.retryTimer = null
    return this.running ?? Promise.resolve()
  }

  /** Re-read the kernel's actual state at the start of the next pass. */
  resync(): void {
    this.resyncWanted = true
    this.trigger()
  }

  /**
   * Schedule a pass; passes never overlap, and triggers during a pass coalesce into one more.
   * The pass starts on the next turn of the event loop, so the triggers of one turn (the watch
   * answers of many followed networks arriving together) are one pass, not one each.
   */
  trigger(): void {
    if (this.running) {
      this.again = true
      return
    }
    this.running = nextTurn()
      .then(() => this.loop())
      .finally(() => {
        this.running = null
        // a trigger between the loop's last check and here would otherwise be lost
        if (this.again) this.trigger()
      })
  }

  /** Resolves after a pass that started after this call has finished. */
  settled(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve)
      this.trigger()
    })
  }

  /**
   * Resolves once the endpoint with this host ifname has been attached or has failed, so a
   * caller does not wait for the rest of the pass (other endpoints' attaches).
   */
  attachDone(hostIfname: string): Promise<void> {
    if (this.book.get('local-endpoint', hostIfname) || this.programmed?.local.get(hostIfname)?.fp)
      return Promise.resolve()
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

  /** The error of the local endpoint with this host ifname, while it fails. */
  localError(hostIfname: string): string | undefined {
    return this.book.get('local-endpoint', hostIfname)?.error
  }

  /** Every item failing now (by kind, then key): what /healthz reports. */
  failures(): ItemFailure[] {
    return this.book.list()
  }

  /** Failed attempts since start, by kind (monotonic): a counter for /metrics. */
  failureTotals(): Record<ItemKind, number> {
    return this.book.totalsByKind()
  }

  private attachFinished(hostIfname: string): void {
    for (const w of this.attachWaiters.get(hostIfname) ?? []) w()
    this.attachWaiters.delete(hostIfname)
  }

  private async loop(): Promise<void> {
    do {
      this.again = false
      const waiters = this.waiters.splice(0)
      const t0 = performance.now()
      try {
        await this.pass()
        this.stats.lastError = this.book.summary()
      } catch (e) {
        this.stats.lastError = errorMessage(e)
        this.deps.log?.warn(
          { err: this.stats.lastError },
          'reconcile pass failed; will retry on the next wakeup',
        )
        this.resyncWanted = true
        this.fullWanted = true
        // waiters learn about it through lastError instead of hanging until the next pass
        for (const h of [...this.attachWaiters.keys()]) this.attachFinished(h)
      }
      const ms = performance.now() - t0
      this.stats.passes++
      this.stats.lastDurationMs = ms
      this.stats.totalDurationMs += ms
      for (const w of waiters) w()
    } while (this.again)
    this.scheduleRetry()
  }

  /** A pass (with a fresh read of the kernel) when the first failed item's backoff ends. */
  private scheduleRetry(): void {
    const at = this.book.nextRetryAt()
    if (this.stopped || at === undefined || (this.retryTimer && this.retryTimer.at <= at)) return
    if (this.retryTimer) clearTimeout(this.retryTimer.t)
    const now = (this.deps.now ?? Date.now)()
    const t = setTimeout(
      () => {
        this.retryTimer = null
        this.resync()
      },
      Math.max(0, at - now),
    )
    this.retryTimer = { at, t }
  }

  /**
   * What the kernel holds. An item (network, local or remote endpoint, member set) we programmed
   * earlier in this process and the kernel still holds as we left it keeps its fingerprint; any
   * other (first pass after a start, or changed behind our back) gets '' and so one idempotent
   * write, through the drift guard, which learns only what it sees written (an item it never saw
   * would make every check after a restart ask for a pass, every 5 s for good). Forwarding
   * state whose veth is gone is keyed by vanishedKey: it is never wanted, so it is detached.
   */
  private async readActual(prev: Programmed | null): Promise<Programmed> {
    const a = await this.deps.datapath.actual()
    const local: Programmed['local'] = new Map()
    for (const e of a.localEndpoints) {
      if (e.hostIfname === undefined) {
        local.set(vanishedKey(e.vni, e.ip), { fp: '', vni: e.vni, ip: e.ip })
        continue
      }
      const had = prev?.local.get(e.hostIfname)
      // the entry held before, when still the same: not a new long-lived object per resync
      if (had && had.vni === e.vni && had.ip === e.ip && had.hostIfname === e.hostIfname)
        local.set(e.hostIfname, had)
      else local.set(e.hostIfname, { fp: '', vni: e.vni, ip: e.ip, hostIfname: e.hostIfname })
    }
    return {
      networks: new Map(a.networks.map((n) => [n.vni, prev?.networks.get(n.vni) ?? ''])),
      local,
      remote: heldRemote(a.remoteEndpoints, prev?.remote),
      members: new Map(
        a.members.map((m) => {
          const had = prev?.members.get(m.vni)
          const same = had !== undefined && memoised(m, () => [...m.vteps].sort().join(',')) === had
          return [m.vni, same ? had : '']
        }),
      ),
    }
  }

  /**
   * Desired state with every fingerprint, derived once per view (a burst of wakeups with the same
   * view costs one derivation, not one per pass), and the items this pass must compare: those of
   * the networks that changed since the last pass, or 'all'.
   */
  private desired(): { d: Desired; scope: Scope | 'all' } {
    const r = this.tracker.derive(this.deps.view(), this.deps.peers)
    if (r) {
      this.stats.derivations++
      this.lastDesired = r.desired
      return { d: r.desired, scope: r.scope }
    }
    return { d: this.lastDesired!, scope: EMPTY_SCOPE }
  }

  /**
   * Run one item's operation: on success its failure (if any) is cleared; on failure it is
   * recorded and logged, and the pass goes on. Skipped while the item backs off after a
   * failure with the same desired spec (`fp`). Returns whether it succeeded.
   */
  private async item(ref: ItemRef, fp: string, op: () => Promise<void>): Promise<boolean> {
    if (this.book.backingOff(ref.kind, ref.key, fp)) return false
    try {
      await op()
      this.book.clear(ref.kind, ref.key)
      return true
    } catch (e) {
      this.recordFailure(ref, errorMessage(e), fp)
      return false
    }
  }

  private recordFailure(ref: ItemRef, error: string, fp: string): void {
    const f = this.book.fail(ref, error, fp)
    this.deps.log?.warn(
      {
        kind: f.kind,
        key: f.key,
        op: f.op,
        attempts: f.attempts,
        retryInMs: f.retryAt - f.lastAttempt,
        err: error,
      },
      `${f.op} ${f.subject} failed; the rest of the pass goes on, and it is retried`,
    )
  }

  /**
   * One pass. A full one (the first, after a kernel read, an error, a full derivation, or once
   * what was held back for an unsynced view may go) compares every item; the others compare only
   * the items of the networks that changed since the last pass (`scope`), in the same order.
   */
  private async pass(): Promise<void> {
    const dp = this.deps.datapath
    let full = this.fullWanted
    if (this.resyncWanted || !this.programmed) {
      this.resyncWanted = false
      const prev = this.programmed
      this.stats.kernelReads++
      this.programmed = await this.readActual(prev)
      if (!this.subnetsRewriteWanted && prev?.subnets !== undefined)
        this.programmed.subnets = prev.subnets
      this.subnetsRewriteWanted = false
      full = true
    }
    const p = this.programmed
    const { d, scope: derived } = this.desired()
    if (this.heldUnknown && this.deps.mayDetachUnknown?.() !== false) full = true
    // a failed item whose backoff is over is retried by whichever pass comes first
    const retryAt = this.book.nextRetryAt()
    if (retryAt !== undefined && retryAt <= (this.deps.now ?? Date.now)()) full = true
    const scope = full ? 'all' : derived
    this.fullWanted = false
    if (scope === 'all') {
      this.stats.fullPasses++
      this.heldUnknown = false
    }
    const mayDetachUnknown = () => {
      if (this.deps.mayDetachUnknown?.() !== false) return true
      this.heldUnknown = true
      return false
    }
    const compared = () => this.stats.itemsCompared++
    // the keys of each kind this pass compares: every one, or only the changed networks'
    const changed = scope === 'all' ? undefined : scope
    const keys = <K>(every: Iterable<K>, onlyChanged: Set<K> | undefined): Iterable<K> =>
      onlyChanged ?? every

    // 0. every subnet of the cluster, before any endpoint can send: the way out must know them
    if (dp.setClusterSubnets) {
      // the list is the same array while no network changed: fingerprinted once
      const fp = fingerprinted(d.subnets).fp
      if (p.subnets !== fp) {
        await this.item(subnetsItem(d.subnets.length), fp, async () => {
          await dp.setClusterSubnets!(d.subnets)
          p.subnets = fp
        })
      }
    }
    // 1. networks first: endpoints need them
    for (const vni of keys(d.networks.keys(), changed?.networks)) {
      compared()
      const want = d.networks.get(vni)
      if (!want || p.networks.get(vni) === want.fp) continue
      await this.item(networkItem(want.spec, 'upsert'), want.fp, async () => {
        await dp.upsertNetwork(want.spec)
        p.networks.set(vni, want.fp)
      })
    }
    // 2. local endpoints no longer wanted, or changed, or whose veth is gone (detached before
    // anything reuses their address)
    const notDetached = new Set<string>()
    for (const key of [...keys(p.local.keys(), changed?.local)]) {
      compared()
      const had = p.local.get(key)
      if (!had) continue
      const want = d.local.get(key)
      // a changed endpoint (same veth, other address) is detached and attached anew;
      // one adopted from the kernel ('' fingerprint) gets the idempotent attach below instead
      if (want && (had.fp === want.fp || had.fp === '')) continue
      // a live veth the view does not know, before the store has answered: keep it for now
      if (!want && had.hostIfname !== undefined && !mayDetachUnknown()) continue
      const ok = await this.item(detachItem(key, had), '', async () => {
        await dp.detachEndpoint({
          vni: had.vni,
          ip: had.ip,
          ...(had.hostIfname !== undefined && { hostIfname: had.hostIfname }),
        })
        p.local.delete(key)
        if (had.hostIfname !== undefined) await this.deps.onDetached?.(had.hostIfname)
      })
      if (!ok && p.local.has(key)) notDetached.add(key)
    }
    // 3. remote endpoints
    // (the keys to remove first: the whole map is not copied on every pass)
    const unwanted: string[] = []
    for (const key of keys(p.remote.keys(), changed?.remote)) {
      compared()
      if (p.remote.has(key) && !d.remote.has(key)) unwanted.push(key)
    }
    for (const key of unwanted) {
      const [vni, ip] = key.split('/')
      const r = { vni: Number(vni), ip: ip! }
      await this.item(remoteItem(r, 'remove'), '', async () => {
        await dp.removeRemoteEndpoint(r)
        p.remote.delete(key)
      })
    }
    for (const key of keys(d.remote.keys(), changed?.remote)) {
      compared()
      const want = d.remote.get(key)
      if (!want || p.remote.get(key) === want.fp) continue
      await this.item(remoteItem(want.spec, 'upsert'), want.fp, async () => {
        await dp.upsertRemoteEndpoint(want.spec)
        p.remote.set(key, want.fp)
      })
    }
    // 4. VTEP membership per VNI
    for (const vni of keys(d.members.keys(), changed?.members)) {
      compared()
      const vteps = d.members.get(vni)
      if (!vteps) continue
      const fp = vteps.join(',')
      if (p.members.get(vni) === fp) continue
      await this.item(membersItem(vni, vteps), fp, async () => {
        await dp.setMembers(vni, vteps)
        p.members.set(vni, fp)
      })
    }
    // 5. new and changed local endpoints, last: when a connect returns, its container can
    // already reach the network's other endpoints (the kernel datapath would otherwise leave
    // the container's first ARP unanswered and wait out a 1 s retransmit)
    const toAttach: { spec: LocalEndpointSpec; fp: string }[] = []
    for (const key of keys(d.local.keys(), changed?.local)) {
      compared()
      const w = d.local.get(key)
      if (
        w &&
        p.local.get(key)?.fp !== w.fp &&
        !notDetached.has(key) &&
        !this.book.backingOff('local-endpoint', key, w.fp)
      )
        toAttach.push(w)
    }
    await runLimited(toAttach, this.deps.attachConcurrency ?? 8, async (w) => {
      // Plumbing makes synchronous kernel calls that may wait on RTNL: let the event loop
      // (API requests, the store's answers) run between two endpoints, not only after the pass.
      await yieldToEventLoop()
      await this.attach(w.spec, w.fp)
      this.attachFinished(w.spec.hostIfname)
    })
    // 6. networks no longer wanted, after their endpoints are gone
    for (const vni of [...keys(p.networks.keys(), changed?.networks)]) {
      compared()
      if (!p.networks.has(vni) || d.networks.has(vni)) continue
      // a network the view does not know, before the store has answered: keep it for now (its
      // endpoints' veths would go with it; the last run's view may just predate its creation)
      if (!mayDetachUnknown()) continue
      await this.item(networkItem({ vni }, 'remove'), '', async () => {
        await dp.removeNetwork(vni)
        p.networks.delete(vni)
        p.members.delete(vni)
        for (const key of [...p.remote.keys()]) if (key.startsWith(`${vni}/`)) p.remote.delete(key)
      })
    }
    await this.forgetUnwanted(p, d)
    // callers waiting on an endpoint this pass skipped (backing off, or its old veth not detached)
    for (const h of [...this.attachWaiters.keys()]) {
      if (this.book.get('local-endpoint', h) || p.local.get(h)?.fp) this.attachFinished(h)
    }
  }

  /** Attach one local endpoint; a failure is recorded (with its network's, if that fails too). */
  private async attach(spec: LocalEndpointSpec, fp: string): Promise<void> {
    const ref = attachItem(spec)
    let result: { ifindex: number } | { error: string }
    try {
      result = await this.deps.datapath.attachEndpoint(spec)
      this.programmed!.local.set(spec.hostIfname, {
        fp,
        vni: spec.vni,
        ip: spec.ip,
        hostIfname: spec.hostIfname,
      })
      this.book.clear(ref.kind, ref.key)
    } catch (e) {
      const net = this.book.get('network', String(spec.vni))
      const error =
        errorMessage(e) + (net ? ` (network VNI ${spec.vni} is failing too: ${net.error})` : '')
      this.recordFailure(ref, error, fp)
      result = { error }
    }
    try {
      await this.deps.onAttached?.(spec, result)
    } catch (e) {
      // the datapath holds it; only the host-local fact was not written (the next attach rewrites it)
      this.deps.log?.warn(
        { endpoint: spec.id, err: errorMessage(e) },
        'recording an attach result failed',
      )
    }
  }

  /** Failures of items that are neither wanted nor held any more are dropped (with their host-local facts). */
  private async forgetUnwanted(p: Programmed, d: Desired): Promise<void> {
    this.book.retain(
      'network',
      (k) => k === SUBNETS_KEY || d.networks.has(Number(k)) || p.networks.has(Number(k)),
    )
    this.book.retain('remote-endpoint', (k) => d.remote.has(k) || p.remote.has(k))
    this.book.retain('members', (k) => d.members.has(Number(k)))
    const gone = this.book.retain('local-endpoint', (k) => d.local.has(k) || p.local.has(k))
    for (const f of gone) {
      if (f.key.includes('/')) continue // vanished state has no host-local fact
      try {
        await this.deps.onDetached?.(f.key)
      } catch (e) {
        this.deps.log?.warn(
          { hostIfname: f.key, err: errorMessage(e) },
          'dropping the host-local fact of an endpoint failed',
        )
      }
      this.attachFinished(f.key)
    }
  }
}

/**
 * The kernel's remote entries (key -> fingerprint). One still as this process left it keeps the
 * key and fingerprint strings already held (the desired spec's, when this process programmed it):
 * the strings built here to compare are garbage after the read, not two more long-lived copies
 * per remote endpoint at every resync. Any other gets '' (see readActual).
 */
function heldRemote(
  entries: RemoteEndpointSpec[],
  prev: Map<string, string> | undefined,
): Map<string, string> {
  const held = new Map<string, RemoteEndpointSpec>()
  for (const r of entries) held.set(remoteKey(r.vni, r.ip), r)
  const out = new Map<string, string>()
  if (prev)
    for (const [key, fp] of prev) {
      const r = held.get(key)
      if (r === undefined || memoised(r, () => JSON.stringify(r)) !== fp) continue
      out.set(key, fp)
      held.delete(key)
    }
  for (const key of held.keys()) out.set(key, '')
  return out
}

/**
 * A string made from one of the datapath's actual-state objects, once per object: the bpf
 * datapath hands out the same object while the kernel's entry is unchanged, so a resync does
 * not stringify every remote endpoint again.
 */
const fingerprints = new WeakMap<object, string>()
function memoised(o: object, make: () => string): string {
  let fp = fingerprints.get(o)
  if (fp === undefined) fingerprints.set(o, (fp = make()))
  return fp
}

/** What an incremental pass compares when no network changed. */
const EMPTY_SCOPE: Scope = {
  networks: new Set(),
  local: new Set(),
  remote: new Set(),
  members: new Set(),
}

const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e))

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))
const nextTurn = yieldToEventLoop

async function runLimited<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!)
  })
  await Promise.all(workers)
}
