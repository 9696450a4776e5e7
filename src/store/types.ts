// The cluster store: what the agent, the cluster operations and the mirror need from the
// replicated KV that holds the cluster tree. Consul (real or embedded, ./consul/) is one
// implementation; the shape is chosen so etcd v3 fits too:
// - every key carries the store revision of its last change (Consul ModifyIndex, etcd
//   mod_revision); a condition on revision 0 means "the key does not exist",
// - a transaction is all-or-nothing; losing a condition is an answer, not an exception,
// - liveness is a lease (Consul session with behaviour delete, etcd lease) that keys are bound to,
// - a watch delivers full snapshots (Consul blocking queries) or deltas (etcd watch events).

/** One key of the cluster tree, its value as text, and the revision of its last change. */
export interface StoreEntry {
  key: string
  value: string
  /** Store revision of the key's last change (Consul ModifyIndex, etcd mod_revision). */
  modifyIndex: bigint
}

/** One operation of a transaction. `ifRevision: 0n` means "only if the key does not exist". */
export type StoreOp =
  | { op: 'put'; key: string; value: string; ifRevision?: bigint }
  | { op: 'delete'; key: string; ifRevision?: bigint }
  | { op: 'delete-prefix'; prefix: string }
  /** A condition only: the key's revision is `revision` (0n: the key is absent). */
  | { op: 'check'; key: string; revision: bigint }

/** The answer of a transaction: committed (with what it wrote) or rolled back (and which conditions failed). */
export type TxnOutcome =
  | { ok: true; written: StoreEntry[] }
  /**
   * Nothing was written. `failed`: indexes of the ops whose condition did not hold; a store
   * that cannot tell which (it reports only "a compare failed") lists every conditional op.
   */
  | { ok: false; failed: number[] }

/** What a watch delivers: the whole prefix, or the changes since the previous event. */
export type WatchEvent =
  | { kind: 'snapshot'; entries: StoreEntry[]; revision: bigint }
  | { kind: 'delta'; put: StoreEntry[]; deleted: string[]; revision: bigint }

export interface WatchHandlers {
  /** Called for every failed round; the watch keeps going with backoff. */
  onError?(err: unknown): void
  /**
   * Called whenever the store answered the watch, also when nothing changed: after a failure,
   * a quiet store is reachable again long before its next change.
   */
  onAnswer?(): void
}

export interface StoreWatch {
  stop(): void
  /** Resolves once the watch loop has ended (after stop). */
  done: Promise<void>
}

/** A running lease keep-alive. */
export interface KeepAlive {
  stop(): void
  /** Resolves when the keep-alive ends: stopped, or the lease was lost. */
  done: Promise<void>
}

/** Leases: keys bound to one vanish when it is revoked or stops being renewed. */
export interface StoreLeases {
  /** A new lease; `name` says who holds it (one name per node). */
  grant(o: { name: string; ttlMs: number }): Promise<string>
  /** Revoke the leases an earlier process with this name left behind, so their keys free up at once. */
  revokeNamed(name: string): Promise<void>
  /** Renew until stopped; `onLost` when the store says the lease is gone. */
  keepAlive(
    id: string,
    ttlMs: number,
    h: { signal?: AbortSignal; onLost?(): void; onError?(e: unknown): void },
  ): KeepAlive
  revoke(id: string): Promise<void>
  /** Write `key` bound to the lease. False when another live lease holds the key. */
  claim(key: string, value: string, leaseId: string): Promise<boolean>
}

export interface ClusterStore {
  /** Where the store is, for messages ("store unreachable at …"). */
  readonly address: string
  /** A consistent read of one key; undefined when absent. */
  get(key: string): Promise<StoreEntry | undefined>
  /** A consistent read of every key under a prefix, sorted by key. */
  list(prefix: string): Promise<StoreEntry[]>
  /**
   * All-or-nothing. Throws StoreUnreachableError when the store did not answer a read-only
   * transaction, and OutcomeUnknownError when a write may or may not have been applied.
   */
  txn(ops: StoreOp[]): Promise<TxnOutcome>
  /** Follow a prefix: the current state first, then every change (as a snapshot or a delta). */
  watch(
    prefix: string,
    onEvent: (e: WatchEvent) => void | Promise<void>,
    h?: WatchHandlers,
  ): StoreWatch
  readonly leases: StoreLeases
}
