// KV operation engine: evaluates a list of ops (a /v1/txn body, or a single KV PUT/DELETE
// mapped onto one verb) against a copy-on-write view of the engine's state. Every op is evaluated
// even after a failure; the resulting change is applied only when no op failed. All writes
// carry the same index `next`. Identical writes are no-ops (index does not move).
import type { KvEntry, TxnOp, TxnOpError } from '../types.ts'
import { READ_ONLY_VERBS } from '../types.ts'
import { emptyChange, type Change, type KvEngine } from './engine.ts'

export interface EngineOp extends Omit<TxnOp, 'value'> {
  value?: Uint8Array
}

export interface EngineContext {
  engine: KvEngine
  next: bigint
  /** true when `key` is inside a lock-delay window. */
  inLockDelay: (key: string) => boolean
}

export interface OpResult {
  entry: KvEntry
  withValue: boolean
}

export interface EngineOutcome {
  results: OpResult[]
  errors: TxnOpError[]
  change: Change
  readOnly: boolean
}

/** Copy-on-write view: later ops see earlier ops' writes. */
class View {
  readonly overlay = new Map<string, KvEntry | null>()
  constructor(private readonly engine: KvEngine) {}
  get(key: string): KvEntry | undefined {
    if (this.overlay.has(key)) return this.overlay.get(key) ?? undefined
    return this.engine.entries.get(key)
  }
  set(key: string, e: KvEntry | null): void {
    this.overlay.set(key, e)
  }
  list(prefix: string): KvEntry[] {
    const keys = new Set<string>()
    for (const e of this.engine.list(prefix)) keys.add(e.key)
    for (const k of this.overlay.keys()) if (k.startsWith(prefix)) keys.add(k)
    const out: KvEntry[] = []
    for (const k of [...keys].sort(byBytes)) {
      const e = this.get(k)
      if (e) out.push(e)
    }
    return out
  }
}

const byBytes = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

const EMPTY = new Uint8Array(0)

function sameContent(a: KvEntry, b: KvEntry): boolean {
  return (
    a.flags === b.flags &&
    a.lockIndex === b.lockIndex &&
    (a.session ?? '') === (b.session ?? '') &&
    Buffer.compare(a.value, b.value) === 0
  )
}

export function evaluate(ops: EngineOp[], ctx: EngineContext): EngineOutcome {
  const view = new View(ctx.engine)
  const results: OpResult[] = []
  const errors: TxnOpError[] = []
  const { next } = ctx

  /** Write `e` unless it is identical to `existing`; returns the entry now stored. */
  const write = (existing: KvEntry | undefined, e: KvEntry): KvEntry => {
    if (existing && sameContent(existing, e)) return existing
    view.set(e.key, e)
    return e
  }
  const fresh = (
    op: EngineOp,
    existing: KvEntry | undefined,
    session: string | undefined,
    lockIndex: bigint,
  ): KvEntry => {
    const e: KvEntry = {
      key: op.key,
      value: op.value ?? EMPTY,
      flags: op.flags ?? 0n,
      lockIndex,
      createIndex: existing?.createIndex ?? next,
      modifyIndex: next,
    }
    if (session) e.session = session
    return e
  }

  ops.forEach((op, i) => {
    const fail = (what: string) => errors.push({ opIndex: i, what })
    const ok = (entry: KvEntry, withValue = false) => results.push({ entry, withValue })
    const key = op.key
    const existing = view.get(key)
    switch (op.verb) {
      case 'set':
        ok(write(existing, fresh(op, existing, existing?.session, existing?.lockIndex ?? 0n)))
        return
      case 'cas': {
        const idx = op.index ?? 0n
        if (idx === 0n ? existing !== undefined : existing?.modifyIndex !== idx) {
          fail(`failed to set key "${key}", index is stale`)
          return
        }
        ok(write(existing, fresh(op, existing, existing?.session, existing?.lockIndex ?? 0n)))
        return
      }
      case 'lock': {
        const s = op.session ?? ''
        if (!s || !ctx.engine.sessions.has(s)) {
          fail(`invalid session "${s}"`)
          return
        }
        if (ctx.inLockDelay(key)) {
          fail(`failed to lock key "${key}" due to lock delay`)
          return
        }
        if (existing?.session && existing.session !== s) {
          fail(`failed to lock key "${key}", lock is already held`)
          return
        }
        const lockIndex =
          existing?.session === s ? existing.lockIndex : (existing?.lockIndex ?? 0n) + 1n
        ok(write(existing, fresh(op, existing, s, lockIndex)))
        return
      }
      case 'unlock': {
        if (!existing || !op.session || existing.session !== op.session) {
          fail(`failed to unlock key "${key}", lock isn't held, or is held by another session`)
          return
        }
        ok(write(existing, fresh(op, existing, undefined, existing.lockIndex)))
        return
      }
      case 'get':
        if (!existing) fail(`key "${key}" doesn't exist`)
        else ok(existing, true)
        return
      case 'get-or-empty':
        ok(
          existing ?? {
            key,
            value: EMPTY,
            flags: 0n,
            lockIndex: 0n,
            createIndex: 0n,
            modifyIndex: 0n,
          },
          true,
        )
        return
      case 'get-tree':
        for (const e of view.list(key)) ok(e, true)
        return
      case 'check-index':
        if (!existing) fail(`key "${key}" doesn't exist`)
        else if (existing.modifyIndex !== (op.index ?? 0n))
          fail(
            `failed index check for key "${key}", current modify index ${existing.modifyIndex} != ${op.index ?? 0n}`,
          )
        else ok(existing)
        return
      case 'check-session':
        if (!existing) fail(`key "${key}" doesn't exist`)
        else if ((existing.session ?? '') !== (op.session ?? ''))
          fail(
            `failed session check for key "${key}", current session ${existing.session ?? ''} != ${op.session ?? ''}`,
          )
        else ok(existing)
        return
      case 'check-not-exists':
        if (existing) fail(`key "${key}" exists`)
        return
      case 'delete':
        if (existing) view.set(key, null)
        return
      case 'delete-tree':
        for (const e of view.list(key)) view.set(e.key, null)
        return
      case 'delete-cas':
        if (!existing) return
        if (existing.modifyIndex !== (op.index ?? 0n))
          fail(`failed to delete key "${key}", index is stale`)
        else view.set(key, null)
        return
    }
  })

  const change = emptyChange()
  if (errors.length === 0) {
    for (const [k, e] of view.overlay) {
      const before = ctx.engine.entries.get(k)
      if (e === null && !before) continue
      if (e && before && sameContent(before, e) && e.modifyIndex === before.modifyIndex) continue
      change.kv.set(k, e)
    }
  }
  return { results, errors, change, readOnly: ops.every((o) => READ_ONLY_VERBS.has(o.verb)) }
}
