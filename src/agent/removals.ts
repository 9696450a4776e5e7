// Endpoint records this agent removed from the store (or is removing) while its mirror may
// still hold them: the re-announce must not write those back.
//
// The re-announce runs only when the store lost its data (./incarnation.ts); when it does, what
// the agent removes meanwhile must still stay removed, and this is what keeps it so.
//
// Design notes (2026-12, h28):
// - A restarted agent re-announces from the mirror of its last run before its scoped follower
//   syncs (the view must still hold what a store that lost its state dropped: live restore). A
//   removal made in that window — an API disconnect right after the start, the release of a
//   sandbox that went while the agent was down, the undo of a failed connect — reaches the
//   store, but not the mirror: deletes are not own writes, only the network's watch brings them,
//   and it starts after the re-announce. So the re-announce found the record "lost" and wrote it
//   back.
// - Every removal path of the agent writes through one store, so the removals are recorded
//   there, at the root (a new path cannot forget to), rather than in each caller: a delete of an
//   endpoint key (or a prefix holding endpoints) is marked before it is sent ("is removing": a
//   re-announce running meanwhile skips it), kept once it committed, and dropped once the view no
//   longer holds the record (the watch brought the delete; nothing else can bring the same record
//   back but the store, and then it really is there). A rolled-back delete removed nothing. A
//   delete whose answer was lost may have landed: kept until the follower synced that network
//   (the view then is the store's answer).
// - Rejected: removals waiting for the follower's sync, as the Docker plugin's does (every
//   removal path would have to, and a sandbox release or undo must not stall on it); a
//   re-announce after the sync compared with the store (the sync itself drops from the view what
//   a store loss dropped, so nothing would be re-announced any more).
import { keys, parseKey, type ClusterView, type EndpointRecord } from '../cluster/index.ts'
import { withTxn, type ClusterStore, type StoreOp } from '../store/index.ts'

export interface RemovalsDeps {
  mirror: { view(): ClusterView; onChange(fn: () => void): () => void }
  /** Whether the follower has synced this network (its view is the store's answer). */
  networkSynced(networkId: string): boolean
}

/** What one kind of delete removed: one endpoint's key, or every key under a prefix. */
interface Removal {
  key?: string
  prefix?: string
  /** The network it is in, when it is within one. */
  networkId?: string
  /** Deletes of it still waiting for their answer. */
  inFlight: number
  /** 'removed': a delete committed; 'uncertain': a delete's answer was lost. */
  outcome?: 'removed' | 'uncertain'
}

export class Removals {
  private readonly removals = new Map<string, Removal>()
  private off: (() => void) | undefined

  constructor(private readonly d: RemovalsDeps) {}

  /** Listen to the mirror: a removal the view has caught up with is forgotten. */
  start(): void {
    this.off ??= this.d.mirror.onChange(() => this.prune())
  }

  stop(): void {
    this.off?.()
    this.off = undefined
  }

  /** `store`, recording the endpoint records each transaction deletes. */
  observe(store: ClusterStore): ClusterStore {
    return withTxn(store, async (ops) => {
      const deleted = endpointDeletes(ops)
      for (const d of deleted) this.mark(d)
      let outcome: Awaited<ReturnType<ClusterStore['txn']>>
      try {
        outcome = await store.txn(ops)
      } catch (e) {
        for (const d of deleted) this.settle(d, 'uncertain')
        throw e
      }
      for (const d of deleted) this.settle(d, outcome.ok ? 'removed' : undefined)
      // a record written again (the same id) is there: no longer removed
      if (outcome.ok) for (const o of ops) if (o.op === 'put') this.rewritten(o.key)
      this.prune()
      return outcome
    })
  }

  /** Whether this agent removed the record, or is removing it, and the view may still show it. */
  has(rec: Pick<EndpointRecord, 'id' | 'networkId'>): boolean {
    if (this.removals.size === 0) return false
    this.prune()
    const key = keys.endpoint(rec.networkId, rec.id)
    for (const r of this.removals.values()) if (covers(r, key)) return true
    return false
  }

  /** How many removals are remembered (tests, health). */
  get size(): number {
    return this.removals.size
  }

  // --- internal ---

  private mark(d: Deleted): void {
    const r = this.removals.get(d.id)
    if (r) r.inFlight++
    else this.removals.set(d.id, { ...d.what, inFlight: 1 })
  }

  private settle(d: Deleted, outcome: Removal['outcome']): void {
    const r = this.removals.get(d.id)
    if (!r) return
    r.inFlight--
    if (outcome === 'removed' || (outcome === 'uncertain' && !r.outcome)) r.outcome = outcome
    if (r.inFlight === 0 && !r.outcome) this.removals.delete(d.id)
  }

  private rewritten(key: string): void {
    const id = `key ${key}`
    if (this.removals.get(id)?.inFlight === 0) this.removals.delete(id)
  }

  /** Forget what the view has caught up with (cheap: usually nothing is remembered). */
  private prune(): void {
    if (this.removals.size === 0) return
    const view = this.d.mirror.view()
    for (const [id, r] of this.removals) {
      if (r.inFlight > 0) continue
      const caughtUp =
        !viewHolds(view, r) ||
        (r.outcome === 'uncertain' &&
          r.networkId !== undefined &&
          this.d.networkSynced(r.networkId))
      if (caughtUp) this.removals.delete(id)
    }
  }
}

/** One delete of a transaction, by what it removes. */
interface Deleted {
  id: string
  what: Pick<Removal, 'key' | 'prefix' | 'networkId'>
}

/** The endpoint keys, and the prefixes holding endpoints, that these ops delete. */
function endpointDeletes(ops: StoreOp[]): Deleted[] {
  const out = new Map<string, Deleted>()
  const tree = keys.endpoints()
  for (const o of ops) {
    if (o.op === 'delete') {
      const k = parseKey(o.key)
      if (k.kind === 'endpoint')
        out.set(`key ${o.key}`, {
          id: `key ${o.key}`,
          what: { key: o.key, networkId: k.networkId },
        })
    } else if (
      o.op === 'delete-prefix' &&
      (tree.startsWith(o.prefix) || o.prefix.startsWith(tree))
    ) {
      // a network's endpoints (its removal: within one network), or more (the whole tree)
      const net = /^([^/]+)\/$/.exec(o.prefix.startsWith(tree) ? o.prefix.slice(tree.length) : '')
      out.set(`prefix ${o.prefix}`, {
        id: `prefix ${o.prefix}`,
        what: { prefix: o.prefix, ...(net ? { networkId: net[1] } : {}) },
      })
    }
  }
  return [...out.values()]
}

/** Whether the removal covers the endpoint record at `key`. */
function covers(r: Removal, key: string): boolean {
  return r.key !== undefined ? r.key === key : key.startsWith(r.prefix!)
}

/** Whether the view still holds a record the removal covers. */
function viewHolds(view: ClusterView, r: Removal): boolean {
  if (r.key !== undefined) {
    const k = parseKey(r.key)
    return k.kind === 'endpoint' && view.endpoints.get(k.endpointId)?.networkId === k.networkId
  }
  for (const e of view.endpoints.values())
    if (covers(r, keys.endpoint(e.networkId, e.id))) return true
  return false
}
