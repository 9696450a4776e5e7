// The SQL that makes a group of engine commits durable: a fixed handful of statements whatever
// the group's size, each carrying its rows as one JSON array (json_each), as the mirror writes.
//
// Why not a statement per row: @libsql/client prepares every statement it runs, and a prepared
// statement holds ~3.7 KB of native memory until the JS collector finalizes its wrapper, which it
// does late (the wrapper is small, nothing tells the collector about the native part). A burst
// of puts, 2 statements each, left their peak in the allocator: 4,000 keys written in groups of
// 64 kept +18 MB resident on the store's thread (bench/parked-rss.ts, 2026-12), the store host's
// largest share above the other agents.
//
// Only each key's last change in the group is written (its earlier ones in the same transaction
// would be overwritten anyway), and the same for sessions and meta values.
import type { SqlStatement } from './engine-db.ts'
import type { KvEntry, SessionInfo } from '../types.ts'
import { toI64 } from '../u64.ts'
import type { Change } from './engine.ts'

const PUT_KV = `INSERT OR REPLACE INTO kv (key, value, flags, session, lock_index, create_index, modify_index)
  SELECT value ->> 0, unhex(value ->> 1), CAST(value ->> 2 AS INTEGER), value ->> 3,
    CAST(value ->> 4 AS INTEGER), CAST(value ->> 5 AS INTEGER), CAST(value ->> 6 AS INTEGER)
  FROM json_each(?)`
const UNTOMB = 'DELETE FROM tombstones WHERE key IN (SELECT value FROM json_each(?))'
const DELETE_KV = 'DELETE FROM kv WHERE key IN (SELECT value FROM json_each(?))'
const TOMB = `INSERT OR REPLACE INTO tombstones (key, idx, at_ms)
  SELECT value ->> 0, CAST(value ->> 1 AS INTEGER), CAST(value ->> 2 AS INTEGER) FROM json_each(?)`
const PUT_SESSIONS = `INSERT OR REPLACE INTO sessions (id, body, create_index, modify_index)
  SELECT value ->> 0, value ->> 1, CAST(value ->> 2 AS INTEGER), CAST(value ->> 3 AS INTEGER)
  FROM json_each(?)`
const DELETE_SESSIONS = 'DELETE FROM sessions WHERE id IN (SELECT value FROM json_each(?))'
const PUT_META = `INSERT OR REPLACE INTO meta (k, v)
  SELECT value ->> 0, CAST(value ->> 1 AS INTEGER) FROM json_each(?)`

/** i64 as decimal text: JSON has no 64-bit integers, SQLite casts the text back exactly. */
const i64 = (v: bigint) => toI64(v).toString()

function sessionBody(s: SessionInfo): string {
  return JSON.stringify({
    ...s,
    lockDelayNs: String(s.lockDelayNs),
    createIndex: String(s.createIndex),
    modifyIndex: String(s.modifyIndex),
  })
}

export interface PersistedCommit {
  next: bigint
  change: Change
  /**
   * The keys it put that had a tombstone before it: only their rows in `tombstones` go. Without
   * it every put key's tombstone is deleted (a statement per group that mostly finds nothing).
   */
  revived?: string[]
}

/** The statements of one SQL transaction that persists `commits` (in commit order). */
export function persistStatements(commits: PersistedCommit[], nowMs: number): SqlStatement[] {
  // each key's / session's last change wins (Map keeps the last set)
  const kv = new Map<string, { entry: KvEntry | null; index: bigint }>()
  const sessions = new Map<string, SessionInfo | null>()
  const meta = new Map<string, bigint>()
  // undefined: some commit did not say which keys it revived, so clear every put key's tombstone
  let revived: Set<string> | undefined = new Set()
  for (const { next, change: c, revived: r } of commits) {
    if (r && revived) for (const k of r) revived.add(k)
    else revived = undefined
    for (const [key, entry] of c.kv) kv.set(key, { entry, index: next })
    for (const s of c.sessionsPut) sessions.set(s.id, s)
    for (const id of c.sessionsDelete) sessions.set(id, null)
    if (c.kv.size > 0) meta.set('kv_index', next)
    if (c.sessionsPut.length > 0 || c.sessionsDelete.length > 0) meta.set('sessions_index', next)
  }
  meta.set('index', commits[commits.length - 1]!.next)

  const puts: unknown[] = []
  const putKeys: string[] = []
  const deletes: string[] = []
  const tombs: unknown[] = []
  for (const [key, { entry: e, index }] of kv) {
    if (e) {
      puts.push([
        key,
        // toHex, not Buffer.from(value.buffer): reading `.buffer` of a small typed array moves
        // its bytes out of the JS heap into an ArrayBuffer of their own for good, ~1 kB more
        // resident per stored key (bench/results/rss-cap-2026-12-01.md)
        e.value.toHex(),
        i64(e.flags),
        e.session ?? null,
        i64(e.lockIndex),
        i64(e.createIndex),
        i64(e.modifyIndex),
      ])
      if (!revived || revived.has(key)) putKeys.push(key)
    } else {
      deletes.push(key)
      tombs.push([key, i64(index), String(nowMs)])
    }
  }
  const sessionPuts: unknown[] = []
  const sessionDeletes: string[] = []
  for (const [id, s] of sessions) {
    if (s) sessionPuts.push([id, sessionBody(s), i64(s.createIndex), i64(s.modifyIndex)])
    else sessionDeletes.push(id)
  }

  const stmts: SqlStatement[] = []
  const add = (sql: string, rows: unknown[]) => {
    if (rows.length) stmts.push({ sql, args: [JSON.stringify(rows)] })
  }
  add(PUT_KV, puts)
  add(UNTOMB, putKeys)
  add(DELETE_KV, deletes)
  add(TOMB, tombs)
  add(PUT_SESSIONS, sessionPuts)
  add(DELETE_SESSIONS, sessionDeletes)
  add(
    PUT_META,
    [...meta].map(([k, v]) => [k, i64(v)]),
  )
  return stmts
}
