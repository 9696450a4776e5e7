// Scoped following (issue 17): a host follows the node list and the network list from everyone,
// its own published-port claims, and the endpoints of only those networks it has local
// endpoints in (names are per network: the same scope), with one store watch per
// followed prefix (so it works on every backend that implements watch(prefix)). What the mirror
// holds shrinks the same way: a network no longer followed is dropped from it.
//
// Design notes (2026-12):
// - Scope = networks with an endpoint of this node in the mirror's view, plus networks an own
//   write of this node's endpoint just asked for. The view is the source of truth, so live
//   restore (startup from the mirror) follows what the last run had, and a disconnect stops the
//   follow when the store's answer (the endpoint gone) arrives.
// - The first endpoint of a network on this host is not put into the view as an own write: the
//   network's first snapshot brings it together with its peers (the watch starts after the
//   write committed, so that snapshot holds it). The reconciler thus programs the peers in the
//   same pass as the new local endpoint (the first ARP is answered), and a connect's wait for
//   its endpoint is its wait for the network. Later own writes of a followed network go into the
//   view at once (read-your-own-writes).
// - IPAM keys are not followed: they mirror the endpoints' addresses one to one (written and
//   deleted in the same transactions), so the connect's first guess derives them (scopedReader);
//   its CAS catches a wrong guess.
// - At start, one list of all endpoints finds this node's endpoints the mirror lacks (a connect
//   that committed just before a crash, a new data dir); until it answered, ready() is false,
//   so the reconciler does not detach what it does not know yet.
// - A watch budget: every per-network watch is a parked request, and Bun's fetch runs at most 256
//   at once (more wait for one to end: the host's own connects queued behind long polls, and a
//   burst over ~250 networks stalled for minutes), Consul takes 200 connections per client by
//   default. A host in more than `maxNetworkWatches` networks follows every endpoint with one
//   watch instead (the old design's cost, for such hosts only), and goes back to a watch per
//   network below half of it; each switch hands over only once the new watches have delivered.
// - Rejected: one recursive watch on the whole tree (every change sent the tree to every host:
//   the cost grew with the cluster, not with the network); a per-node index key (needs a new
//   key in every connect transaction and a migration; the view already knows our endpoints).
import {
  EndpointChanges,
  keys,
  parseKey,
  type ClusterView,
  type EndpointRecord,
} from '../cluster/index.ts'
import type {
  ClusterStore,
  StoreEntry,
  StoreStatus,
  StoreWatch,
  WatchEvent,
} from '../store/index.ts'
import type { ClusterMirror } from './cluster-mirror.ts'
import type { MirrorChange } from './db.ts'

export interface ScopedFollowOptions {
  /** This node's name: its endpoints decide the scope. */
  node: string
  store: Pick<ClusterStore, 'watch' | 'list'>
  mirror: ClusterMirror
  /**
   * Look once, at start, for this node's endpoints across the whole tree (default true): the
   * mirror may lack one whose connect committed just before a crash (own writes live in memory
   * until a snapshot confirms them), or the data dir may be new. One list per start; the old
   * design sent the whole tree per change.
   */
  discover?: boolean
  /** Most per-network watches before one watch on every endpoint (default MAX_NETWORK_WATCHES). */
  maxNetworkWatches?: number
  /** First retry delay of a failed discovery (default 500 ms, doubling to 10 s). */
  retryMs?: number
  status: StoreStatus
  log?: {
    debug(o: object, m?: string): void
    info?(o: object, m?: string): void
    warn?(o: object, m?: string): void
  }
}

/**
 * Per-network watches a host holds at most (each a parked request; Bun's fetch runs 256 at once,
 * Consul takes 200 connections per client): room for the base watches, connects and sessions.
 */
export const MAX_NETWORK_WATCHES = 128

interface Followed {
  prefix: string
  /** Its own watch; none while the wide watch alone brings its endpoints. */
  watch?: StoreWatch
  /** Its own watch has delivered once (the mirror holds the network's full state, see isSynced). */
  watchSynced: boolean
}

/** One watch on every endpoint, for a host in more networks than watches. */
interface Wide {
  watch: StoreWatch
  synced: boolean
}

/** Networks this node has endpoints in, per the view (external endpoints belong to no node). */
export function localNetworks(view: ClusterView, node: string): Set<string> {
  const out = new Set<string>()
  for (const e of view.endpoints.values()) if (!e.external && e.node === node) out.add(e.networkId)
  return out
}

/** Whether a key of the tree belongs in the mirror of `node` that follows `networks`. */
export function inScope(key: string, networks: ReadonlySet<string>, node: string): boolean {
  const k = parseKey(key)
  if (k.kind === 'node' || k.kind === 'network') return true
  if (k.kind === 'endpoint') return networks.has(k.networkId)
  return key.startsWith(keys.portsOf(node)) // this node's published-port claims
}

export class ScopedFollower {
  private readonly networks = new Map<string, Followed>()
  /** Networks an own write asked for whose first snapshot has not arrived yet. */
  private readonly pending = new Set<string>()
  private base: StoreWatch[] = []
  private wide: Wide | undefined
  private off: (() => void) | undefined
  private started = false
  private stopped = false
  private rescopeQueued = false
  /**
   * This node's endpoints in the view (id -> network) and how many each network has, kept at
   * the cost of each change (EndpointChanges): the scope changes only when a network's count
   * goes to or from 0, so a burst of connects costs no scan of the view per connect.
   */
  private readonly localIds = new Map<string, string>()
  private readonly localPerNetwork = new Map<string, number>()
  private readonly changes = new EndpointChanges()
  /** Base watches (nodes, networks, port claims) whose first event has been applied. */
  private baseSynced = 0
  private discovered = false
  private readonly stopping = new AbortController()
  /** Mirror writes of all watches and drops run one at a time (a dropped network's late event must not come back). */
  private serial: Promise<unknown> = Promise.resolve()
  /** Follows started and stopped since construction (tests, metrics). */
  readonly counts = { follows: 0, unfollows: 0 }

  constructor(private readonly o: ScopedFollowOptions) {}

  /**
   * Drop what is out of scope from the mirror (one from an older run may hold the whole tree),
   * then follow nodes, networks and the endpoints of every local network.
   */
  async start(): Promise<void> {
    if (this.started || this.stopped) return
    this.started = true
    const { mirror } = this.o
    const wanted = new Set([...localNetworks(mirror.view(), this.o.node), ...this.networks.keys()])
    await this.run(() => mirror.forget((k) => !inScope(k, wanted, this.o.node)))
    if (this.stopped) return
    const once = { before() {}, after: () => this.baseSynced++, undo() {} }
    this.base = this.basePrefixes().map((prefix) => this.watch(prefix, () => true, once))
    this.off = mirror.onChange((c) => this.noteChange(c) && this.queueRescope())
    this.noteChange(undefined)
    this.rescope()
    if (this.o.discover === false) this.discovered = true
    else void this.discover()
  }

  /** Stop every watch; resolves when their loops have ended. */
  async stop(): Promise<void> {
    this.stopped = true
    this.stopping.abort()
    this.off?.()
    const all = [
      ...this.base,
      ...(this.wide ? [this.wide.watch] : []),
      ...[...this.networks.values()].flatMap((f) => (f.watch ? [f.watch] : [])),
    ]
    this.base = []
    this.wide = undefined
    this.networks.clear()
    for (const w of all) w.stop()
    await Promise.all(all.map((w) => w.done))
    await this.serial
  }

  /**
   * This agent's committed writes, before they reach the mirror: in scope ones go in at once;
   * this node's endpoint in a network not followed yet starts following it (its first snapshot
   * brings the endpoint and its peers); the rest is not mirrored.
   */
  ownWrites(written: StoreEntry[]): void {
    const pass: StoreEntry[] = []
    for (const e of written) {
      const k = parseKey(e.key)
      if (k.kind === 'node' || k.kind === 'network' || e.key.startsWith(keys.portsOf(this.o.node)))
        pass.push(e)
      else if (k.kind === 'endpoint') {
        if (this.wide?.synced) {
          pass.push(e) // the mirror holds every endpoint: a new network's peers are there already
          if (!this.networks.has(k.networkId) && this.isMine(e)) this.follow(k.networkId)
        } else if (this.synced(k.networkId)) pass.push(e)
        else if (this.isMine(e) && !this.stopped) {
          this.pending.add(k.networkId)
          this.follow(k.networkId)
        }
      }
    }
    if (pass.length) this.o.mirror.ownWrites(pass)
  }

  /** Networks followed now (their endpoints are mirrored, or about to be). */
  following(): string[] {
    return [...this.networks.keys()].sort()
  }

  /** Whether one watch on every endpoint stands in for the per-network ones (more networks than watches). */
  followsEveryEndpoint(): boolean {
    return this.wide !== undefined
  }

  /** Whether the mirror holds this network's full current state. */
  synced(networkId: string): boolean {
    const f = this.networks.get(networkId)
    return f !== undefined && this.isSynced(f)
  }

  /** Every watch has delivered once: the mirror holds the full current state of the scope. */
  ready(): boolean {
    return (
      this.baseSynced === this.basePrefixes().length &&
      this.discovered &&
      (!this.wide || this.wide.synced) &&
      [...this.networks.values()].every((f) => this.isSynced(f))
    )
  }

  // --- internal ---

  /** Followed by every host: the node list, the network list, and this node's port claims. */
  private basePrefixes(): string[] {
    return [keys.nodes(), keys.networks(), keys.portsOf(this.o.node)]
  }

  private isMine(e: StoreEntry): boolean {
    try {
      const r = JSON.parse(e.value) as { node?: unknown; external?: unknown }
      return r.node === this.o.node && r.external !== true
    } catch {
      return false
    }
  }

  /** Find this node's endpoints in the store (once, retried until it answers) and follow their networks. */
  private async discover(): Promise<void> {
    const { store, status, log } = this.o
    for (let delay = this.o.retryMs ?? 500; !this.stopped; delay = Math.min(delay * 2, 10_000)) {
      try {
        const all = await store.list(keys.endpoints())
        status.answered()
        if (this.stopped) return
        for (const e of all) {
          const k = parseKey(e.key)
          if (k.kind === 'endpoint' && !this.networks.has(k.networkId) && this.isMine(e)) {
            log?.warn?.(
              { network: k.networkId.slice(0, 12), endpoint: k.endpointId.slice(0, 12) },
              'the store holds an endpoint of this node the mirror did not: following its network',
            )
            this.pending.add(k.networkId)
            this.follow(k.networkId)
          }
        }
        this.discovered = true
        this.queueRescope()
        return
      } catch (e) {
        status.failed((e as Error).message)
        log?.debug(
          { err: (e as Error).message },
          `looking for this node's endpoints failed; retrying in ${delay} ms`,
        )
        await new Promise<void>((res) => {
          const t = setTimeout(res, delay)
          this.stopping.signal.addEventListener('abort', () => (clearTimeout(t), res()), {
            once: true,
          })
        })
      }
    }
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.serial.then(fn, fn)
    this.serial = p.catch(() => undefined)
    return p
  }

  /**
   * A store watch on `prefix` feeding the mirror while `current()` says it is still wanted.
   * `first.before` runs just before the first event is applied (whoever the mirror's change
   * wakes already sees the prefix as synced), `first.after` once it is, `first.undo` when it failed.
   */
  private watch(
    prefix: string,
    current: () => boolean,
    first?: { before(): void; after(): void; undo(): void },
  ): StoreWatch {
    const { status, mirror, log } = this.o
    let applied = false
    return this.o.store.watch(
      prefix,
      (event: WatchEvent) => {
        status.answered()
        return this.run(async () => {
          if (this.stopped || !current()) return
          if (applied || !first) return void (await mirror.apply(event, prefix))
          first.before()
          try {
            await mirror.apply(event, prefix)
          } catch (e) {
            first.undo()
            throw e
          }
          applied = true
          first.after()
        })
      },
      {
        onAnswer: () => status.answered(),
        onError(e) {
          status.failed((e as Error).message)
          log?.debug({ prefix, err: (e as Error).message }, 'watch failed; backing off')
        },
      },
    )
  }

  private follow(networkId: string): void {
    if (this.networks.has(networkId) || this.stopped) return
    const f: Followed = { prefix: keys.endpointsOf(networkId), watchSynced: false }
    this.networks.set(networkId, f)
    if (!this.wide) this.watchNetwork(networkId, f)
    this.counts.follows++
    this.o.log?.debug({ network: networkId.slice(0, 12) }, 'following network')
  }

  /** The network's own watch (while there is no wide one, or to hand over from it). */
  private watchNetwork(networkId: string, f: Followed): void {
    const w = this.watch(f.prefix, () => this.networks.get(networkId) === f && f.watch === w, {
      before: () => (f.watchSynced = true),
      after: () => {
        // only now: a rescope while the apply was under way must not drop the network
        this.pending.delete(networkId)
        this.queueRescope() // our endpoint may be gone again by the time of the first snapshot
      },
      undo: () => (f.watchSynced = false),
    })
    f.watch = w
  }

  /** One watch on every endpoint instead of one per network (the per-network ones end once it delivered). */
  private widen(): void {
    const wide: Wide = { synced: false, watch: undefined as unknown as StoreWatch }
    this.wide = wide
    wide.watch = this.watch(keys.endpoints(), () => this.wide === wide, {
      before: () => (wide.synced = true),
      after: () => {
        this.pending.clear() // the snapshot held every endpoint, so every pending network's
        this.queueRescope()
      },
      undo: () => (wide.synced = false),
    })
    this.o.log?.warn?.(
      { networks: this.networks.size, max: this.maxWatches() },
      'more networks than watches: following every endpoint with one watch',
    )
  }

  /**
   * While wide: once its watch delivered, end the per-network ones; below half the budget, a
   * watch per network again, and the wide one ends (its extra endpoints dropped from the mirror)
   * once each of them delivered.
   */
  private handOver(wanted: Set<string>): void {
    const wide = this.wide!
    if (wanted.size > this.maxWatches() / 2) {
      if (!wide.synced) return
      for (const f of this.networks.values()) {
        f.watch?.stop()
        f.watch = undefined
        f.watchSynced = false
      }
      return
    }
    for (const [id, f] of this.networks) if (!f.watch) this.watchNetwork(id, f)
    if (![...this.networks.values()].every((f) => f.watchSynced)) return
    this.wide = undefined
    wide.watch.stop()
    const followed = new Set(this.networks.keys())
    this.run(() =>
      this.o.mirror.forget(
        (k) => k.startsWith(keys.endpoints()) && !inScope(k, followed, this.o.node),
      ),
    ).catch((e: unknown) =>
      this.o.log?.warn?.(
        { err: (e as Error).message },
        'could not drop unfollowed networks from the mirror',
      ),
    )
    this.o.log?.info?.({ networks: followed.size }, 'a watch per network again')
  }

  /** The mirror holds the network's full state: its own watch or the wide one delivered. */
  private isSynced(f: Followed): boolean {
    return f.watchSynced || this.wide?.synced === true
  }

  private maxWatches(): number {
    return this.o.maxNetworkWatches ?? MAX_NETWORK_WATCHES
  }

  private unfollow(networkId: string): void {
    const f = this.networks.get(networkId)
    if (!f) return
    this.networks.delete(networkId)
    f.watch?.stop()
    this.counts.unfollows++
    this.o.log?.debug({ network: networkId.slice(0, 12) }, 'stopped following network')
    if (this.wide) return // the wide watch keeps every endpoint in the mirror
    this.run(() => this.o.mirror.forget((k) => k.startsWith(f.prefix))).catch((e: unknown) =>
      // the rows stay in the mirror db (a cache): the next start's prune drops them
      this.o.log?.warn?.(
        { network: networkId.slice(0, 12), err: (e as Error).message },
        'could not drop an unfollowed network from the mirror',
      ),
    )
  }

  /**
   * Bring the index of this node's endpoints up to date with a change of the mirror (all of it
   * without one); true when the set of networks with a local endpoint changed. Peers' endpoints,
   * nodes and networks keep it.
   */
  private noteChange(c: MirrorChange | undefined): boolean {
    const view = this.o.mirror.view()
    const touched = this.changes.touched(view, c)
    if (touched === 'all') {
      const before = new Set(this.localPerNetwork.keys())
      this.localIds.clear()
      this.localPerNetwork.clear()
      for (const e of view.endpoints.values()) this.setLocal(e.id, this.localNetworkOf(e))
      const after = this.localPerNetwork
      return before.size !== after.size || [...before].some((n) => !after.has(n))
    }
    let scope = false
    for (const id of touched)
      scope = this.setLocal(id, this.localNetworkOf(view.endpoints.get(id))) || scope
    return scope
  }

  private localNetworkOf(e: EndpointRecord | undefined): string | undefined {
    return e && !e.external && e.node === this.o.node ? e.networkId : undefined
  }

  /** Record endpoint `id` as in `networkId` (undefined: not local); true when a network's count went to or from 0. */
  private setLocal(id: string, networkId: string | undefined): boolean {
    const had = this.localIds.get(id)
    if (had === networkId) return false
    let scope = false
    if (had !== undefined) {
      const n = this.localPerNetwork.get(had)! - 1
      if (n > 0) this.localPerNetwork.set(had, n)
      else {
        this.localPerNetwork.delete(had)
        scope = true
      }
      this.localIds.delete(id)
    }
    if (networkId !== undefined) {
      const n = this.localPerNetwork.get(networkId) ?? 0
      this.localPerNetwork.set(networkId, n + 1)
      this.localIds.set(id, networkId)
      if (n === 0) scope = true
    }
    return scope
  }

  private queueRescope(): void {
    if (this.rescopeQueued) return
    this.rescopeQueued = true
    queueMicrotask(() => {
      this.rescopeQueued = false
      this.rescope()
    })
  }

  /** Follow every local network, stop following the rest (pending ones wait for their first snapshot). */
  private rescope(): void {
    if (!this.started || this.stopped) return
    const wanted = new Set(this.localPerNetwork.keys())
    for (const id of this.pending) wanted.add(id)
    if (!this.wide && wanted.size > this.maxWatches()) this.widen()
    for (const id of wanted) this.follow(id)
    for (const id of [...this.networks.keys()]) if (!wanted.has(id)) this.unfollow(id)
    if (this.wide) this.handOver(wanted)
  }
}
