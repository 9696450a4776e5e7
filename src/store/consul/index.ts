// The cluster store on the Consul KV API (a real Consul, or weft's embedded server): reads
// are consistent, transactions go to /v1/txn, leases are TTL sessions with behaviour
// "delete", and the watch is a blocking query that delivers full snapshots (a real Consul) or,
// from weft's own store, the changes since the last round (src/kv/delta-wire.ts).
import { OutcomeUnknownError, StoreUnreachableError } from '../../errors/index.ts'
import {
  ConsulClient,
  TxnConflictError,
  watchQuery,
  type KvEntry,
  type TransportOptions,
  type TxnOp,
} from '../../kv/index.ts'
import type {
  ClusterStore,
  StoreEntry,
  StoreLeases,
  StoreOp,
  StoreWatch,
  TxnOutcome,
  WatchEvent,
  WatchHandlers,
} from '../types.ts'

const text = new TextDecoder()

export interface ConsulStoreOptions {
  /** Blocking wait of one watch round (default 60 s). */
  watchWaitMs?: number
}

/** Why the client could not reach the store: its `why` (one server), else its whole account (several). */
function reason(e: StoreUnreachableError): string {
  const why = (e as { why?: unknown }).why
  return typeof why === 'string' ? why : e.message
}

/** Consul's verbs for one store op. */
export function toConsulOp(op: StoreOp): TxnOp {
  switch (op.op) {
    case 'put':
      return op.ifRevision === undefined
        ? { verb: 'set', key: op.key, value: op.value }
        : { verb: 'cas', key: op.key, value: op.value, index: op.ifRevision }
    case 'delete':
      return op.ifRevision === undefined
        ? { verb: 'delete', key: op.key }
        : { verb: 'delete-cas', key: op.key, index: op.ifRevision }
    case 'delete-prefix':
      return { verb: 'delete-tree', key: op.prefix }
    case 'check':
      return op.revision === 0n
        ? { verb: 'check-not-exists', key: op.key }
        : { verb: 'check-index', key: op.key, index: op.revision }
  }
}

export class ConsulStore implements ClusterStore {
  readonly leases: StoreLeases

  constructor(
    readonly client: ConsulClient,
    private readonly opts: ConsulStoreOptions = {},
  ) {
    this.leases = consulLeases(client)
  }

  static connect(transport: TransportOptions, opts?: ConsulStoreOptions): ConsulStore {
    return new ConsulStore(new ConsulClient(transport), opts)
  }

  get address(): string {
    return this.client.address
  }

  async get(key: string): Promise<StoreEntry | undefined> {
    const r = await this.client.kv
      .get(key, { consistency: 'consistent' })
      .catch((e) => this.unreachable(e))
    return (
      r.value && {
        key: r.value.key,
        value: text.decode(r.value.value),
        modifyIndex: r.value.modifyIndex,
      }
    )
  }

  async list(prefix: string): Promise<StoreEntry[]> {
    const r = await this.client.kv
      .list(prefix, { consistency: 'consistent' })
      .catch((e) => this.unreachable(e))
    return r.value.map((e) => ({
      key: e.key,
      value: text.decode(e.value),
      modifyIndex: e.modifyIndex,
    }))
  }

  /** The client's "cannot reach" in our words: where the store is, why, and what still works. */
  private unreachable(e: unknown): never {
    if (!(e instanceof StoreUnreachableError)) throw e
    throw new StoreUnreachableError(
      `store unreachable at ${this.address}: ${reason(e)}; writes fail until it is back (existing traffic keeps flowing)`,
      {
        cause: e,
      },
    )
  }

  async txn(ops: StoreOp[]): Promise<TxnOutcome> {
    const writes = ops.some((o) => o.op !== 'check')
    let results
    try {
      results = await this.client.txn(ops.map(toConsulOp))
    } catch (e) {
      if (e instanceof TxnConflictError)
        return { ok: false, failed: e.errors.map((x) => x.opIndex) }
      if (writes && e instanceof StoreUnreachableError) {
        throw new OutcomeUnknownError(
          `store unreachable at ${this.address}: ${reason(e)}; the write may or may not have been applied`,
          { cause: e },
        )
      }
      this.unreachable(e)
    }
    // Consul's results of writes carry the new ModifyIndex but no Value: take it from the op
    const values = new Map<string, string>()
    for (const o of ops) if (o.op === 'put') values.set(o.key, o.value)
    const written = results
      .filter((e) => values.has(e.key))
      .map((e) => ({ key: e.key, value: values.get(e.key)!, modifyIndex: e.modifyIndex }))
    return { ok: true, written }
  }

  watch(
    prefix: string,
    onEvent: (e: WatchEvent) => void | Promise<void>,
    h: WatchHandlers = {},
  ): StoreWatch {
    // Every move of the index is delivered, also one whose tree looks like the last snapshot:
    // a write and its undoing between two rounds leave the tree as it was, but the index tells
    // the mirror that its own write is superseded (read-your-own-writes needs that).
    //
    // Each round asks weft's own store for only what changed since the last answer the mirror
    // took (a delta: issue 17, a host over the watch budget follows every endpoint with this
    // one watch); a real Consul answers with the whole prefix, as before. Only an answer that
    // was applied may be the base of the next delta: after a failed apply (the loop's index
    // moved past it) or a reset, the next round asks for the full list again.
    let applied: bigint | undefined
    return watchQuery(
      (q) => this.client.kv.listSince(prefix, q.index === applied ? applied : undefined, q),
      async (r) => {
        const v = r.value
        await onEvent(
          v.kind === 'delta'
            ? { kind: 'delta', put: v.put.map(storeEntry), deleted: v.deleted, revision: r.index }
            : { kind: 'snapshot', entries: v.entries.map(storeEntry), revision: r.index },
        )
        applied = r.index
      },
      {
        waitMs: this.opts.watchWaitMs ?? 60_000,
        // A snapshot is the whole tree: handling one (mirror diff, view) may take at most ~1/10
        // of the time, so a small cluster sees every change at once and a burst of writes to a
        // big tree is coalesced. The bucket only stops a flapping key from spinning.
        paceFactor: 10,
        rateLimit: { burst: 10, perSecond: 50 },
        onError: (e) => h.onError?.(e),
        onAnswer: () => h.onAnswer?.(),
      },
    )
  }
}

const storeEntry = (e: KvEntry): StoreEntry => ({
  key: e.key,
  value: text.decode(e.value),
  modifyIndex: e.modifyIndex,
})

/** Leases as Consul sessions: behaviour "delete" removes the claimed keys when the session ends. */
function consulLeases(client: ConsulClient): StoreLeases {
  return {
    grant: ({ name, ttlMs }) =>
      client.session.create({ name, ttlMs, behavior: 'delete', lockDelayMs: 0, checks: [] }),
    async revokeNamed(name) {
      const stale = (await client.session.all()).value.filter((s) => s.name === name)
      for (const s of stale) await client.session.destroy(s.id)
    },
    keepAlive: (id, ttlMs, h) => client.session.keepAlive(id, ttlMs, h),
    revoke: (id) => client.session.destroy(id),
    claim: (key, value, leaseId) => client.kv.put(key, value, { acquire: leaseId }),
  }
}
