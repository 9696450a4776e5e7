// Types shared by the Consul client and our Consul-compatible server. All u64 values
// (indexes, Flags) are bigint; KV values are raw bytes.

/** One KV entry (Consul's DirEntry). `value` is the raw bytes; empty when Consul sends `Value: null`. */
export interface KvEntry {
  key: string
  value: Uint8Array
  flags: bigint
  /** ID of the session holding the lock; undefined when unlocked. */
  session?: string
  lockIndex: bigint
  createIndex: bigint
  modifyIndex: bigint
}

export type SessionBehavior = 'release' | 'delete'

/** One session as returned by /v1/session/info|list|node|renew. */
export interface SessionInfo {
  id: string
  name: string
  node: string
  /** Lock delay in nanoseconds (Consul's wire unit). */
  lockDelayNs: bigint
  behavior: SessionBehavior
  /** TTL as a Go duration string, '' when none. */
  ttl: string
  nodeChecks: string[] | null
  serviceChecks: { ID: string; Namespace?: string }[] | null
  createIndex: bigint
  modifyIndex: bigint
}

export type TxnVerb =
  | 'set'
  | 'cas'
  | 'lock'
  | 'unlock'
  | 'get'
  | 'get-or-empty'
  | 'get-tree'
  | 'check-index'
  | 'check-session'
  | 'check-not-exists'
  | 'delete'
  | 'delete-tree'
  | 'delete-cas'

export const TXN_VERBS: ReadonlySet<string> = new Set<TxnVerb>([
  'set',
  'cas',
  'lock',
  'unlock',
  'get',
  'get-or-empty',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
  'delete',
  'delete-tree',
  'delete-cas',
])

export const READ_ONLY_VERBS: ReadonlySet<string> = new Set<TxnVerb>([
  'get',
  'get-or-empty',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
])

/** One KV operation of a /v1/txn request. */
export interface TxnOp {
  verb: TxnVerb
  key: string
  value?: Uint8Array | string
  flags?: bigint
  index?: bigint
  session?: string
}

/** A failing op of a rolled-back transaction. */
export interface TxnOpError {
  opIndex: number
  what: string
}

// --- wire helpers (shared by both sides) ---

/** Wire (JSON) shape of an entry. */
export interface WireEntry {
  LockIndex: bigint | number
  Key: string
  Flags: bigint | number
  Value: string | null
  Session?: string
  CreateIndex: bigint | number
  ModifyIndex: bigint | number
}

export function entryToWire(e: KvEntry, withValue = true): WireEntry {
  const w: WireEntry = {
    LockIndex: e.lockIndex,
    Key: e.key,
    Flags: e.flags,
    Value: withValue && e.value.length > 0 ? Buffer.from(e.value).toString('base64') : null,
    CreateIndex: e.createIndex,
    ModifyIndex: e.modifyIndex,
  }
  if (e.session) w.Session = e.session
  return w
}

export function sessionToWire(s: SessionInfo): Record<string, unknown> {
  return {
    ID: s.id,
    Name: s.name,
    Node: s.node,
    LockDelay: s.lockDelayNs,
    Behavior: s.behavior,
    TTL: s.ttl,
    NodeChecks: s.nodeChecks,
    ServiceChecks: s.serviceChecks,
    CreateIndex: s.createIndex,
    ModifyIndex: s.modifyIndex,
  }
}
