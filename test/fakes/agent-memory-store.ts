// An in-memory cluster store shaped like etcd v3: one revision counter for the whole tree,
// leases with a TTL that take their keys with them, and a watch that sends the current state
// once and then deltas. It exists to show the ClusterStore interface fits a delta store: it
// passes the same contract as ConsulStore, and the agent's units run on it unchanged.
import type {
  ClusterStore,
  KeepAlive,
  StoreEntry,
  StoreLeases,
  StoreOp,
  StoreWatch,
  TxnOutcome,
  WatchEvent,
} from '../../src/store/index.ts'

interface Held {
  value: string
  modifyIndex: bigint
  lease?: string
}

export class MemoryDeltaStore implements ClusterStore {
  readonly address = 'memory://delta'
  private revision = 1n
  private readonly tree = new Map<string, Held>()
  private readonly watchers = new Set<{ prefix: string; push(e: WatchEvent): void }>()
  private readonly leaseTable = new Map<string, { name: string; ttlMs: number; expires: number }>()
  private nextLease = 1
  private readonly reaper = setInterval(() => this.reap(), 20)
  readonly leases: StoreLeases

  constructor() {
    this.leases = this.makeLeases()
  }

  close(): void {
    clearInterval(this.reaper)
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    const h = this.tree.get(key)
    return h && { key, value: h.value, modifyIndex: h.modifyIndex }
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    return [...this.tree]
      .filter(([k]) => k.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([key, h]) => ({ key, value: h.value, modifyIndex: h.modifyIndex }))
  }

  async txn(ops: StoreOp[]): Promise<TxnOutcome> {
    const rev = (k: string) => this.tree.get(k)?.modifyIndex ?? 0n
    const failed = ops.flatMap((o, i) => {
      const want =
        o.op === 'check' ? o.revision : o.op === 'delete-prefix' ? undefined : o.ifRevision
      return want !== undefined && rev(o.op === 'delete-prefix' ? o.prefix : o.key) !== want
        ? [i]
        : []
    })
    if (failed.length) return { ok: false, failed }
    if (ops.every((o) => o.op === 'check')) return { ok: true, written: [] }
    return { ok: true, written: this.apply(ops) }
  }

  watch(prefix: string, onEvent: (e: WatchEvent) => void | Promise<void>): StoreWatch {
    const queue: WatchEvent[] = []
    let wake: (() => void) | undefined
    let stopped = false
    const w = { prefix, push: (e: WatchEvent) => (queue.push(e), wake?.()) }
    this.watchers.add(w)
    void this.list(prefix).then((entries) =>
      w.push({ kind: 'snapshot', entries, revision: this.revision }),
    )
    const done = (async () => {
      while (!stopped) {
        const e = queue.shift()
        if (e) await onEvent(e)
        else await new Promise<void>((r) => (wake = r))
      }
    })()
    return {
      stop: () => {
        stopped = true
        this.watchers.delete(w)
        wake?.()
      },
      done,
    }
  }

  /** Applies writes at one new revision and tells the watchers what changed. */
  private apply(
    ops: (StoreOp | { op: 'put-lease'; key: string; value: string; lease: string })[],
  ): StoreEntry[] {
    const revision = ++this.revision
    const put: StoreEntry[] = []
    const deleted: string[] = []
    const drop = (k: string) => {
      if (this.tree.delete(k)) deleted.push(k)
    }
    for (const o of ops) {
      if (o.op === 'put' || o.op === 'put-lease') {
        this.tree.set(o.key, {
          value: o.value,
          modifyIndex: revision,
          ...(o.op === 'put-lease' ? { lease: o.lease } : {}),
        })
        put.push({ key: o.key, value: o.value, modifyIndex: revision })
      } else if (o.op === 'delete') drop(o.key)
      else if (o.op === 'delete-prefix')
        for (const k of [...this.tree.keys()]) if (k.startsWith(o.prefix)) drop(k)
    }
    const live = put.filter(
      (p) => this.tree.get(p.key)?.modifyIndex === revision && !deleted.includes(p.key),
    )
    for (const w of this.watchers) {
      const mine = {
        put: live.filter((p) => p.key.startsWith(w.prefix)),
        deleted: deleted.filter((k) => k.startsWith(w.prefix)),
      }
      w.push({ kind: 'delta', ...mine, revision })
    }
    return put
  }

  private endLease(id: string): void {
    if (!this.leaseTable.delete(id)) return
    const keys = [...this.tree].filter(([, h]) => h.lease === id).map(([k]) => k)
    if (keys.length) this.apply(keys.map((key) => ({ op: 'delete' as const, key })))
  }

  private reap(): void {
    const now = Date.now()
    for (const [id, l] of this.leaseTable) if (l.expires < now) this.endLease(id)
  }

  private makeLeases(): StoreLeases {
    return {
      grant: async ({ name, ttlMs }) => {
        const id = `lease-${this.nextLease++}`
        this.leaseTable.set(id, { name, ttlMs, expires: Date.now() + ttlMs })
        return id
      },
      revokeNamed: async (name) => {
        for (const [id, l] of [...this.leaseTable]) if (l.name === name) this.endLease(id)
      },
      revoke: async (id) => this.endLease(id),
      claim: async (key, value, leaseId) => {
        if (!this.leaseTable.has(leaseId)) return false
        const held = this.tree.get(key)?.lease
        if (held && held !== leaseId && this.leaseTable.has(held)) return false
        this.apply([{ op: 'put-lease', key, value, lease: leaseId }])
        return true
      },
      keepAlive: (id, ttlMs, h): KeepAlive => {
        let stop!: () => void
        const stopped = new Promise<void>((r) => (stop = r))
        const done = (async () => {
          for (;;) {
            const tick = await Promise.race([
              Bun.sleep(ttlMs / 4).then(() => 'tick' as const),
              stopped.then(() => 'stop' as const),
            ])
            if (tick === 'stop' || h.signal?.aborted) return
            const l = this.leaseTable.get(id)
            if (!l) return h.onLost?.()
            l.expires = Date.now() + l.ttlMs
          }
        })()
        return { stop, done }
      },
    }
  }
}
