// The agent service: what the front doors (admin API, later the Docker plugin and names)
// ask of this agent — networks, connect and disconnect with their waits and undo, endpoint
// status, nodes and health. It writes through the cluster operations, reads the mirror's view,
// and waits on the reconciler; it owns no I/O of its own.
//
// A connect either succeeds or changes nothing, and says which. Its write is followed by a wait
// for the local attach; a failed or timed-out attach is undone (the record removed again,
// retried until the store takes it). When the store does not answer, the outcome is found out
// (the record read back) or, when even that is impossible, converged to "nothing changed" in the
// background, and the answer says so.
import {
  AttachFailedError,
  OutcomeUnknownError,
  StoreUnreachableError,
  ValidationError,
} from '../errors/index.ts'
import {
  EndpointRecord,
  type ClusterOps,
  type ConnectInput,
  type CreateNetworkInput,
  type NetworkRecord,
  type StoreReader,
} from '../cluster/index.ts'
import type { ClusterMirror, LocalEndpointFact } from '../mirror/index.ts'
import type { StoreEntry, StoreStatus } from '../store/index.ts'
import type { Reconciler } from '../reconcile/index.ts'
import type { VniStats } from '../datapath/types.ts'
import { assertIfname, hostIfnameFor } from '../net/index.ts'
import { assertHostAddresses } from '../egress/index.ts'
import type {
  AgentApi,
  EndpointStatus,
  HealthReport,
  NodeStatus,
  PeerProbeStatus,
} from '../api/index.ts'
import type { DoctorQuery, DoctorReport } from '../doctor/index.ts'
import { KeyedQueue } from './keyed-queue.ts'
import { ConnectTimings } from './connect-timings.ts'
import { hostSandboxes, type FollowedSandboxes, type Sandboxes } from './sandboxes.ts'
import type { Removals } from './removals.ts'

/** The reconciler as the service uses it. */
export type AttachTracker = Pick<
  Reconciler,
  'trigger' | 'settled' | 'attachDone' | 'isAttached' | 'localError' | 'stats' | 'failures'
>

export interface AgentServiceDeps {
  node: string
  datapathKind: 'bpf' | 'kernel'
  ops: ClusterOps
  mirror: ClusterMirror
  reconciler: AttachTracker
  /** This host's attach facts (from the mirror db). */
  localFacts(): Promise<LocalEndpointFact[]>
  stats(): Promise<VniStats[]>
  metrics(): Promise<string>
  storeStatus: StoreStatus
  registered(): boolean
  /** What probes say about peers' datapaths, by node (src/probe). */
  peers?: () => (PeerProbeStatus & { node: string })[]
  /** weft doctor (absent: the API answers 501). */
  doctor?(q: DoctorQuery): Promise<DoctorReport>
  sandboxes?: Sandboxes
  /** This node's endpoints as their sandboxes are followed (gone, and which namespace each is in). */
  followed?: FollowedSandboxes
  /** Endpoint records this agent removed (or is removing) that the view may still hold. */
  removals?: Pick<Removals, 'has'>
  log: { info(o: object, m?: string): void; warn(o: object, m?: string): void }
  /** Where local connects spend their time (for /metrics). */
  connectTimings?: ConnectTimings
  /** How long a connect waits for the local attach (default 15 s). */
  attachTimeoutMs?: number
  /** How long a request retries an undo before leaving it to the background (default 5 s). */
  undoBudgetMs?: number
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

export class AgentService implements AgentApi {
  readonly node: string
  private readonly sandboxes: Sandboxes
  private readonly queue = new KeyedQueue()
  /** Undos still being retried after their request answered; stopped by close(). */
  private readonly pendingUndos = new Map<string, Promise<void>>()
  private closed = new AbortController()
  private readonly attachTimeoutMs: number
  private readonly undoBudgetMs: number
  private readonly timings: ConnectTimings

  readonly doctor?: (q: DoctorQuery) => Promise<DoctorReport>

  constructor(private readonly d: AgentServiceDeps) {
    this.node = d.node
    if (d.doctor) this.doctor = (q) => d.doctor!(q)
    this.sandboxes = d.sandboxes ?? hostSandboxes
    this.attachTimeoutMs = d.attachTimeoutMs ?? 15_000
    this.undoBudgetMs = d.undoBudgetMs ?? 5_000
    this.timings = d.connectTimings ?? new ConnectTimings()
  }

  listNetworks(): Promise<NetworkRecord[]> {
    return this.read(async (from) =>
      (await this.d.ops.networks(from))
        .map((n) => n.record)
        .sort((a, b) => a.name.localeCompare(b.name)),
    )
  }

  createNetwork(input: CreateNetworkInput): Promise<NetworkRecord> {
    return this.guard(() => this.d.ops.createNetwork(input))
  }

  getNetwork(ref: string): Promise<NetworkRecord> {
    return this.read(async (from) => (await this.d.ops.resolveNetwork(ref, from)).record)
  }

  removeNetwork(ref: string): Promise<NetworkRecord> {
    return this.guard(async () => {
      const r = await this.d.ops.removeNetwork(ref)
      this.d.reconciler.trigger()
      return r
    })
  }

  endpoints(networkId?: string): Promise<EndpointStatus[]> {
    return this.read(async (from) => {
      const id = networkId
        ? (await this.d.ops.resolveNetwork(networkId, from)).record.id
        : undefined
      return this.withStatus(await this.d.ops.endpoints(id, from))
    })
  }

  connect(input: ConnectInput): Promise<EndpointStatus> {
    return this.guard(async () => {
      if (input.external)
        return { record: await this.d.ops.connect(input, this.node, () => new Set()) }
      if (!input.sandbox)
        throw new ValidationError('sandbox is required (or external: {name, mac, vtep})')
      if (input.ifname !== undefined) assertIfname(input.ifname, 'ifname') // bad input is 400 before a missing sandbox is 404
      if (input.publish?.length) assertHostAddresses(input.publish) // a HOST_IP must be this host's (400)
      this.sandboxes.check(input.sandbox) // a missing sandbox fails here, before anything is written
      // One namespace, one identity: `x`, /run/netns/x, /proc/PID/ns/net and PID share a key.
      // Connects of one namespace run one at a time: each picks the lowest free ethN from the
      // view, which must already hold the previous connect's endpoint.
      const key = this.sandboxes.key(input.sandbox)
      return this.queue.run(key, () => this.connectLocal(input, key))
    })
  }

  disconnect(network: string, endpoint: string): Promise<EndpointRecord> {
    return this.guard(async () => {
      // a sandbox connected as `x` can be disconnected as /proc/PID/ns/net too (same namespace)
      const key = this.presentKey(endpoint)
      const rec = await this.d.ops.disconnect(
        network,
        endpoint,
        this.node,
        key === undefined ? undefined : (e) => this.endpointKey(e) === key,
      )
      if (!rec.external) {
        try {
          await this.d.mirror.waitFor(
            (v) => !v.endpoints.has(rec.id),
            this.attachTimeoutMs,
            'the disconnect to arrive from the store',
          )
          await this.d.reconciler.settled()
        } catch (e) {
          // the record is gone from the store (the disconnect happened); the detach follows the watch
          this.d.log.warn(
            { endpoint: rec.id, err: (e as Error).message },
            'disconnected; the local detach waits for the watch',
          )
        }
      }
      return rec
    })
  }

  async nodes(): Promise<NodeStatus[]> {
    const view = this.d.mirror.view()
    const counts = new Map<string, number>()
    // the mirror holds only the networks this host serves: count every node's endpoints from
    // the store, and from the mirror (this host's networks) while the store does not answer
    const all = await this.d.ops.endpoints().catch((e: unknown) => {
      if (!(e instanceof StoreUnreachableError)) throw e
      return [...view.endpoints.values()]
    })
    for (const e of all) if (e.node) counts.set(e.node, (counts.get(e.node) ?? 0) + 1)
    const probes = new Map(
      (this.d.peers?.() ?? []).map((p): [string, PeerProbeStatus] => [
        p.node,
        {
          state: p.state,
          vtep: p.vtep,
          ...(p.rttMs !== undefined && { rttMs: p.rttMs }),
          loss: p.loss,
          ...(p.pathMtu !== undefined && { pathMtu: p.pathMtu }),
          mtuTarget: p.mtuTarget,
        },
      ]),
    )
    const names = new Set([...view.nodes.keys(), ...counts.keys(), ...probes.keys()])
    return [...names].sort().map((name): NodeStatus => {
      const probe = probes.get(name)
      return {
        name,
        record: view.nodes.get(name),
        alive: view.nodes.has(name),
        endpoints: counts.get(name) ?? 0,
        ...(probe && { probe }),
      }
    })
  }

  stats(): Promise<VniStats[]> {
    return this.d.stats()
  }

  async health(): Promise<HealthReport> {
    const { storeStatus: store, reconciler } = this.d
    return {
      ok: store.reachable && this.d.registered() && reconciler.stats.lastError === null,
      node: this.node,
      store: {
        reachable: store.reachable,
        ...(store.lastError ? { lastError: store.lastError } : {}),
        ...(store.unreachableSince
          ? { unreachableSince: new Date(store.unreachableSince).toISOString() }
          : {}),
        ...(store.lastAnswerAt ? { lastContact: new Date(store.lastAnswerAt).toISOString() } : {}),
      },
      datapath: this.d.datapathKind,
      reconcile: {
        passes: reconciler.stats.passes,
        lastDurationMs: reconciler.stats.lastDurationMs,
        lastError: reconciler.stats.lastError,
        failures: reconciler.failures().map((f) => ({
          kind: f.kind,
          key: f.key,
          subject: f.subject,
          op: f.op,
          error: f.error,
          since: new Date(f.since).toISOString(),
          attempts: f.attempts,
        })),
      },
    }
  }

  metrics(): Promise<string> {
    return this.d.metrics()
  }

  /**
   * Write back this node's endpoints the store lost (after a store restart without state), as
   * the view holds them: at a restart, the mirror of the last run, before the follower syncs.
   * Run only when the store may have lost them (./incarnation.ts): on a store that kept its
   * data, a record it lacks was deleted and must stay so.
   */
  async reannounce(): Promise<number> {
    const view = this.d.mirror.view()
    // an endpoint whose sandbox is gone is being released: writing it back would resurrect it
    const gone = (e: EndpointRecord) =>
      !e.external &&
      !!e.sandbox &&
      (this.d.followed?.isGone(e.id) || this.presentKey(e.sandbox) === undefined)
    const mine = [...view.endpoints.values()].filter(
      (e) => e.node === this.node && view.networks.has(e.networkId) && !gone(e),
    )
    let n = 0
    let skipped = 0
    for (const e of mine) {
      // removed by this agent (a disconnect, a release, an undo) before the view heard of it:
      // asked right before each write, so a removal under way meanwhile is not undone either
      if (this.d.removals?.has(e)) skipped++
      else n += await this.d.ops.reannounce([e])
    }
    if (skipped)
      this.d.log.info(
        { endpoints: skipped },
        'not re-announcing endpoints this agent removed (its view had not heard yet)',
      )
    if (n) this.d.log.info({ endpoints: n }, 're-announced endpoints the store had lost')
    return n
  }

  /** Stop retrying undos in the background (agent stop); resolves when they have ended. */
  async close(): Promise<void> {
    this.closed.abort()
    await Promise.all(this.pendingUndos.values())
  }

  /** Undos that have not landed yet, by endpoint id (for tests and health). */
  pendingUndoIds(): string[] {
    return [...this.pendingUndos.keys()]
  }

  // --- internal ---

  /** The namespace key of a sandbox reference, undefined when it names no namespace now. */
  private presentKey(ref: string): string | undefined {
    try {
      return this.sandboxes.key(ref)
    } catch {
      return undefined // gone, or not a sandbox reference at all (an external endpoint's name)
    }
  }

  /** The namespace an endpoint of this node was plumbed into: as followed, else its reference's now. */
  private endpointKey(e: EndpointRecord): string | undefined {
    if (e.external || e.node !== this.node || !e.sandbox) return undefined
    return this.d.followed?.sandboxKey(e.id) ?? this.presentKey(e.sandbox)
  }

  /** Interface names weft gave in the namespace `key` (any network). */
  private sandboxIfnames(key: string): Set<string> {
    const followed = this.d.followed
    if (followed?.endpointsIn) {
      // the follower knows this node's endpoints by namespace: the cost of one sandbox's
      // endpoints, not of every endpoint of the view per connect (quadratic in a burst)
      const view = this.d.mirror.view()
      const names = new Set<string>()
      for (const id of followed.endpointsIn(key, (ref) => this.presentKey(ref))) {
        const e = view.endpoints.get(id)
        if (e && e.node === this.node && e.sandbox) names.add(e.ifname ?? '')
      }
      return names
    }
    const mine = [...this.d.mirror.view().endpoints.values()].filter((e) => e.node === this.node)
    return new Set(
      mine.filter((e) => e.sandbox && this.endpointKey(e) === key).map((e) => e.ifname ?? ''),
    )
  }

  /** Attach status of this node's endpoints (others' endpoints carry none). */
  private async withStatus(records: EndpointRecord[]): Promise<EndpointStatus[]> {
    const facts = new Map((await this.d.localFacts()).map((f) => [f.endpointId, f]))
    return records.map((e): EndpointStatus => {
      if (e.external || e.node !== this.node) return { record: e }
      // its namespace is gone: not attached any more, whatever the last attach said
      if (this.d.followed?.isGone(e.id)) return { record: e, status: 'gone' }
      const err = this.d.reconciler.localError(hostIfnameFor(e.id))
      if (err) return { record: e, status: 'failed', error: err }
      return { record: e, status: facts.get(e.id)?.status === 'attached' ? 'attached' : 'pending' }
    })
  }

  /**
   * A read from the store; when it does not answer, from this agent's mirror instead (as the
   * store was when it last answered: the API marks such answers as possibly stale).
   */
  private async read<T>(fn: (from?: StoreReader) => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (!(e instanceof StoreUnreachableError)) throw e
      this.d.storeStatus.failed(e.message)
      return fn(this.d.mirror)
    }
  }

  /** A store that does not answer is marked unreachable (health, metrics) on the way out. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (e) {
      if (e instanceof StoreUnreachableError) this.d.storeStatus.failed(e.message)
      throw e
    }
  }

  /** Connect a sandbox on this node: write, wait for the attach, undo on failure. */
  private async connectLocal(input: ConnectInput, key: string): Promise<EndpointStatus> {
    let rec: EndpointRecord
    const sandbox = input.sandbox!
    const hasInterface = this.sandboxes.hasInterface
    try {
      rec = await this.timings.time('write', () =>
        this.d.ops.connect(input, this.node, () => this.sandboxIfnames(key), {
          same: (e) => this.endpointKey(e) === key,
          ...(hasInterface
            ? { hasInterface: (ifname: string) => hasInterface(sandbox, ifname) }
            : {}),
        }),
      )
    } catch (e) {
      if (!(e instanceof OutcomeUnknownError)) throw e
      return this.settleUnknownConnect(e, input)
    }
    return this.attachOrUndo(rec, input)
  }

  /** The connect's write got no answer: read the record back, then go on or report nothing changed. */
  private async settleUnknownConnect(
    err: OutcomeUnknownError,
    input: ConnectInput,
  ): Promise<EndpointStatus> {
    const parsed = EndpointRecord.safeParse(err.attempted)
    if (!parsed.success) throw err
    const rec = parsed.data
    const deadline = Date.now() + this.undoBudgetMs
    let entry: StoreEntry | undefined | 'unknown' = 'unknown'
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        entry = await this.d.ops.findEndpoint(rec)
        break
      } catch (e) {
        if (!(e instanceof StoreUnreachableError) || Date.now() + delay > deadline) break
        await sleep(delay)
      }
    }
    if (entry === 'unknown') {
      this.undoInBackground(rec)
      throw new OutcomeUnknownError(
        `connect ${rec.name} to ${input.network}: ${err.message}; if the endpoint was written, ` +
          'weft removes it again as soon as the store answers (nothing stays)',
        { cause: err },
        rec,
      )
    }
    if (!entry)
      throw new StoreUnreachableError(
        `connect ${rec.name} to ${input.network} failed (nothing changed): ${err.message}`,
        { cause: err },
      )
    this.d.log.info(
      { endpoint: rec.id },
      'connect: the write whose answer was lost is in the store; attaching it',
    )
    this.d.mirror.ownWrites([entry])
    return this.attachOrUndo(rec, input)
  }

  private async attachOrUndo(rec: EndpointRecord, input: ConnectInput): Promise<EndpointStatus> {
    const ifname = hostIfnameFor(rec.id)
    let failure: Error
    try {
      const deadline = Date.now() + this.attachTimeoutMs
      await this.timings.time('arrive', () =>
        this.d.mirror.waitFor(
          (v) => v.endpoints.has(rec.id),
          this.attachTimeoutMs,
          `endpoint ${rec.id.slice(0, 12)} to arrive from the store`,
        ),
      )
      const err = await this.timings.time('attach', () => this.attachOutcome(ifname, deadline))
      if (err === undefined) {
        this.timings.completed++
        return { record: rec, status: 'attached' }
      }
      failure = new AttachFailedError(`attach ${rec.name} to ${input.network} failed: ${err}`)
    } catch (e) {
      failure = e as Error
    }
    // undo: nothing half-made stays behind
    const undo = await this.undo(rec)
    if (undo === 'done') {
      failure.message += '; the endpoint was removed again (nothing changed)'
      throw failure
    }
    if (this.d.reconciler.isAttached(ifname)) {
      // the undo cannot land and the endpoint is programmed after all: keep it, it works
      this.d.log.warn(
        { endpoint: rec.id, err: failure.message },
        'connect: undo failed but the endpoint is attached; keeping it',
      )
      return { record: rec, status: 'attached' }
    }
    this.undoInBackground(rec)
    failure.message += `; removing the endpoint record failed (${undo.message}): weft retries until it is gone`
    throw failure
  }

  /** Waits for this endpoint's attach: undefined once attached, else its own error (never another's). */
  private async attachOutcome(ifname: string, deadline: number): Promise<string | undefined> {
    const r = this.d.reconciler
    for (;;) {
      const left = deadline - Date.now()
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([
        r.attachDone(ifname),
        new Promise<void>((res) => (timer = setTimeout(res, Math.max(0, left)))),
      ])
      clearTimeout(timer)
      const err = r.localError(ifname)
      if (err !== undefined) return err
      if (r.isAttached(ifname)) return undefined
      // the pass ended before reaching this endpoint (it failed elsewhere): try again until the deadline
      if (Date.now() >= deadline) {
        return `not programmed within ${this.attachTimeoutMs} ms: the reconciler's passes fail before reaching it (see /healthz)`
      }
      await sleep(Math.min(200, Math.max(0, deadline - Date.now())))
    }
  }

  /** Remove a connect's record again, retrying within the request's budget while the store does not answer. */
  private async undo(rec: EndpointRecord): Promise<'done' | Error> {
    const deadline = Date.now() + this.undoBudgetMs
    let last: Error = new Error('no attempt')
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        await this.d.ops.removeEndpoint(rec)
        this.d.reconciler.trigger()
        return 'done'
      } catch (e) {
        last = e as Error
        if (!(e instanceof StoreUnreachableError) || Date.now() + delay > deadline) break
        await sleep(delay)
      }
    }
    return last
  }

  private undoInBackground(rec: EndpointRecord): void {
    if (this.pendingUndos.has(rec.id)) return
    const signal = this.closed.signal
    const run = (async () => {
      for (let delay = 200; !signal.aborted; delay = Math.min(delay * 2, 5000)) {
        try {
          const r = await this.d.ops.removeEndpoint(rec)
          this.d.log.info({ endpoint: rec.id, result: r }, 'connect undo landed')
          this.d.reconciler.trigger()
          return
        } catch (e) {
          this.d.log.warn(
            { endpoint: rec.id, err: (e as Error).message },
            `connect undo failed; retrying in ${delay} ms`,
          )
          await new Promise<void>((res) => {
            const t = setTimeout(res, delay)
            signal.addEventListener('abort', () => (clearTimeout(t), res()), { once: true })
          })
        }
      }
    })().finally(() => this.pendingUndos.delete(rec.id))
    this.pendingUndos.set(rec.id, run)
  }
}
