// The embedded KV engine: libSQL persistence + the in-memory mirror the server reads from. Invariants:
// - one global u64 index (meta 'index') that only rises, survives restarts, and is
//   assigned inside the single serialized write path; all changes of one write share it;
// - every write is durable in one SQL transaction (EngineDb.transaction), shared by the
//   writes of one event-loop turn (group commit); nobody sees a write before its commit
//   (it is applied to memory inside the commit's turn and rolled back if the commit fails);
// - a write that changes nothing consumes no index and wakes nobody.
import { EngineDb } from './engine-db.ts'
import type { KvEntry, SessionInfo } from '../types.ts'
import { fromI64, toI64 } from '../u64.ts'
import { persistStatements, type PersistedCommit } from './persist-sql.ts'
import { CommitLog } from './commit-log.ts'

export interface Tombstone {
  index: bigint
  atMs: number
}

/** What one write wants to change; built by a mutator against the current state. */
export interface Change {
  /** key -> new entry, or null to delete (leaves a tombstone). */
  kv: Map<string, KvEntry | null>
  sessionsPut: SessionInfo[]
  sessionsDelete: string[]
}

export interface CommitEvent {
  index: bigint
  kvKeys: string[]
  sessions: boolean
}

interface PendingWrite {
  mutate: (next: bigint) => { change: Change; result: unknown }
  resolve: (result: unknown) => void
  reject: (e: unknown) => void
}

export const emptyChange = (): Change => ({ kv: new Map(), sessionsPut: [], sessionsDelete: [] })
const isEmpty = (c: Change) =>
  c.kv.size === 0 && c.sessionsPut.length === 0 && c.sessionsDelete.length === 0

export interface KvEngineOptions {
  /**
   * Records the log of recent changes holds (commit-log.ts): a delta read whose reader is at
   * most this many key changes behind costs the changes, one further behind a walk of its
   * prefix. 4,096 records are ~64 kB of slots (the keys are the entries' own strings).
   */
  logCapacity?: number
}

const SCHEMA = [
  'CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)',
  `CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, flags INTEGER NOT NULL,
     session TEXT, lock_index INTEGER NOT NULL, create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL)`,
  'CREATE TABLE IF NOT EXISTS tombstones (key TEXT PRIMARY KEY, idx INTEGER NOT NULL, at_ms INTEGER NOT NULL)',
  'CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, body TEXT NOT NULL, create_index INTEGER NOT NULL, modify_index INTEGER NOT NULL)',
]

export class KvEngine {
  /** Highest index ever assigned. */
  index = 0n
  /** Highest index of any KV change (live entries and tombstones, also reaped ones). */
  kvIndex = 0n
  /** Highest index of any session change. */
  sessionsIndex = 0n
  /** Highest index of a reaped tombstone: prefix indexes never drop below it, so they never go backwards. */
  reapFloor = 0n
  /**
   * Rises whenever what a read could see changes (a change applied or undone, tombstones
   * reaped): answers computed from memory stay valid while it stays (see prefix-reads.ts).
   */
  version = 0
  readonly entries = new Map<string, KvEntry>()
  /** Every live key in byte order: a prefix is one contiguous run found by binary search. */
  private readonly sorted = new SortedKeys()
  readonly tombstones = new Map<string, Tombstone>()
  /**
   * Tombstoned keys in byte order, beside the map: a list read's index looks at the tombstones
   * under its prefix only. It walked every tombstone of the store per read (and a blocking query
   * reads again on each commit), so after a burst of removals every watcher paid for all of them.
   */
  private readonly sortedTombstones = new SortedKeys()
  readonly sessions = new Map<string, SessionInfo>()
  private queue: Promise<unknown> = Promise.resolve()
  private readonly pending: PendingWrite[] = []
  /** SQL transactions that made writes durable (several writes may share one). */
  commits = 0
  private listeners: ((e: CommitEvent) => void)[] = []
  private closed = false
  /** The recent KV changes, for delta reads (see commit-log.ts); starts at the loaded index. */
  readonly log: CommitLog

  private constructor(
    private readonly db: EngineDb,
    logCapacity: number,
  ) {
    this.log = new CommitLog(logCapacity, 0n)
  }

  static async open(dbPath: string, o: KvEngineOptions = {}): Promise<KvEngine> {
    const db = EngineDb.open(dbPath)
    try {
      // WAL + synchronous=FULL: one fsync per commit (~0.3 ms measured), so a committed index
      // survives even a power loss and never goes backwards.
      db.exec('PRAGMA journal_mode=WAL')
      db.exec('PRAGMA synchronous=FULL')
      // Reads never touch SQL (memory mirrors the tables), so SQLite's page cache only serves
      // a commit's B-tree pages; at its 2 MB default it kept ~4.5 MB resident after 12,000
      // keys (bench/parked-rss.ts), and the OS page cache holds the file anyway.
      db.exec('PRAGMA cache_size=-256')
      db.transaction(SCHEMA.map((sql) => ({ sql })))
      const s = new KvEngine(db, o.logCapacity ?? 4096)
      s.load()
      s.log.floor = s.index
      return s
    } catch (e) {
      db.close()
      throw e
    }
  }

  private load(): void {
    for (const r of this.db.all('SELECT k, v FROM meta')) {
      const v = fromI64(r.v)
      if (r.k === 'index') this.index = v
      else if (r.k === 'kv_index') this.kvIndex = v
      else if (r.k === 'sessions_index') this.sessionsIndex = v
      else if (r.k === 'reap_floor') this.reapFloor = v
    }
    for (const r of this.db.all('SELECT * FROM kv')) {
      const e: KvEntry = {
        key: String(r.key),
        value: new Uint8Array(r.value as ArrayBuffer),
        flags: fromI64(r.flags),
        lockIndex: fromI64(r.lock_index),
        createIndex: fromI64(r.create_index),
        modifyIndex: fromI64(r.modify_index),
      }
      if (r.session) e.session = String(r.session)
      this.entries.set(e.key, e)
    }
    this.sorted.reset([...this.entries.keys()])
    for (const r of this.db.all('SELECT key, idx, at_ms FROM tombstones'))
      this.tombstones.set(String(r.key), { index: fromI64(r.idx), atMs: Number(r.at_ms) })
    this.sortedTombstones.reset([...this.tombstones.keys()])
    for (const r of this.db.all('SELECT body FROM sessions')) {
      const b = JSON.parse(String(r.body))
      this.sessions.set(b.id, {
        ...b,
        lockDelayNs: BigInt(b.lockDelayNs),
        createIndex: BigInt(b.createIndex),
        modifyIndex: BigInt(b.modifyIndex),
      })
    }
  }

  onCommit(fn: (e: CommitEvent) => void): void {
    this.listeners.push(fn)
  }

  /**
   * The single write path. `mutate(next)` runs with exclusive access to the current
   * state and returns the change (entries carrying index `next`) plus a result. An
   * empty change commits nothing and consumes no index.
   *
   * Group commit: writes that arrive in the same event-loop turn run one after another
   * (each sees the ones before it and gets its own index) and are made durable by one SQL
   * transaction, so a burst costs one fsync instead of one each. Readers and watchers see a
   * write only after that commit; if it fails, memory is rolled back and every write of the
   * group fails.
   */
  write<R>(mutate: (next: bigint) => { change: Change; result: R }): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.pending.push({ mutate, resolve: resolve as (r: unknown) => void, reject })
      if (this.pending.length === 1) setImmediate(() => this.scheduleFlush())
    })
  }

  private scheduleFlush(): void {
    const p = this.queue.then(() => this.flush())
    this.queue = p.catch(() => undefined)
  }

  private async flush(): Promise<void> {
    const group = this.pending.splice(0)
    if (group.length === 0) return
    if (this.closed) {
      for (const w of group) w.reject(new Error('kv engine is closed'))
      return
    }
    const settled: {
      w: PendingWrite
      result: unknown
      commit?: PersistedCommit
    }[] = []
    const undo: (() => void)[] = []
    for (const w of group) {
      const next = this.index + 1n
      let out: { change: Change; result: unknown }
      try {
        out = w.mutate(next)
      } catch (e) {
        w.reject(e)
        continue
      }
      if (isEmpty(out.change)) {
        settled.push({ w, result: out.result })
        continue
      }
      const applied = this.apply(next, out.change)
      undo.push(applied.undo)
      settled.push({
        w,
        result: out.result,
        commit: { next, change: out.change, revived: applied.revived },
      })
    }
    const commits = settled.flatMap((x) => (x.commit ? [x.commit] : []))
    try {
      if (commits.length) await this.persist(commits)
    } catch (e) {
      for (const u of undo.reverse()) u()
      for (const x of settled) x.w.reject(e)
      return
    }
    for (const c of commits) this.notify(c.next, c.change)
    for (const x of settled) x.w.resolve(x.result)
  }

  private async persist(commits: PersistedCommit[]): Promise<void> {
    // a few JSON-carrying statements per group, not one per row (see persist-sql.ts)
    this.db.transaction(persistStatements(commits, Date.now()))
    this.commits++
  }

  /**
   * Apply a change to memory (not yet visible to watchers: see notify); returns its undo and
   * the keys it put back that had a tombstone (only theirs need deleting from the table).
   */
  private apply(next: bigint, c: Change): { undo: () => void; revived: string[] } {
    const before = { index: this.index, kvIndex: this.kvIndex, sessionsIndex: this.sessionsIndex }
    const kvBefore = [...c.kv.keys()].map((k) => ({
      k,
      e: this.entries.get(k),
      t: this.tombstones.get(k),
    }))
    const sessionsBefore = [...c.sessionsPut.map((x) => x.id), ...c.sessionsDelete].map((id) => ({
      id,
      s: this.sessions.get(id),
    }))
    const now = Date.now()
    this.index = next
    this.version++
    const logMark = this.log.seq
    const revived: string[] = []
    for (const [key, e] of c.kv) {
      this.log.append(next, key)
      if (e) {
        if (this.tombstones.has(key)) revived.push(key)
        if (!this.entries.has(key)) this.sorted.add(key)
        this.entries.set(key, e)
        this.untomb(key)
      } else {
        if (this.entries.delete(key)) this.sorted.remove(key)
        this.tomb(key, { index: next, atMs: now })
      }
    }
    if (c.kv.size > 0) this.kvIndex = next
    for (const s of c.sessionsPut) this.sessions.set(s.id, s)
    for (const id of c.sessionsDelete) this.sessions.delete(id)
    if (c.sessionsPut.length > 0 || c.sessionsDelete.length > 0) this.sessionsIndex = next
    const undo = () => {
      Object.assign(this, before)
      this.version++
      this.log.truncate(logMark)
      for (const { k, e, t } of kvBefore) {
        if (e) {
          if (!this.entries.has(k)) this.sorted.add(k)
          this.entries.set(k, e)
        } else if (this.entries.delete(k)) this.sorted.remove(k)
        if (t) this.tomb(k, t)
        else this.untomb(k)
      }
      for (const { id, s: prev } of sessionsBefore) {
        if (prev) this.sessions.set(id, prev)
        else this.sessions.delete(id)
      }
    }
    return { undo, revived }
  }

  private notify(next: bigint, c: Change): void {
    const ev: CommitEvent = {
      index: next,
      kvKeys: [...c.kv.keys()],
      sessions: c.sessionsPut.length > 0 || c.sessionsDelete.length > 0,
    }
    for (const l of this.listeners) l(ev)
  }

  /** Drop tombstones older than `maxAgeMs`; raises reapFloor so no prefix index goes backwards. */
  reapTombstones(maxAgeMs: number): Promise<number> {
    const run = async () => {
      if (this.closed) return 0
      const cutoff = Date.now() - maxAgeMs
      const reaped: string[] = []
      let floor = this.reapFloor
      for (const [k, t] of this.tombstones) {
        if (t.atMs < cutoff) {
          reaped.push(k)
          if (t.index > floor) floor = t.index
        }
      }
      if (reaped.length === 0) return 0
      this.db.transaction([
        { sql: 'DELETE FROM tombstones WHERE at_ms < ?', args: [cutoff] },
        {
          sql: 'INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)',
          args: ['reap_floor', toI64(floor)],
        },
      ])
      for (const k of reaped) this.untomb(k)
      this.reapFloor = floor
      this.version++
      return reaped.length
    }
    const p = this.queue.then(run, run)
    this.queue = p.catch(() => undefined)
    return p
  }

  /** Sizes of what memory holds (a measuring aid: the store thread's census). */
  census(): {
    keys: number
    keyChars: number
    valueBytes: number
    tombstones: number
    sessions: number
  } {
    let keyChars = 0
    let valueBytes = 0
    for (const e of this.entries.values()) {
      keyChars += e.key.length
      valueBytes += e.value.byteLength
    }
    return {
      keys: this.entries.size,
      keyChars,
      valueBytes,
      tombstones: this.tombstones.size,
      sessions: this.sessions.size,
    }
  }

  // --- read helpers (memory only, always committed state) ---

  /** Entries whose key starts with `prefix`, sorted by key bytes. */
  list(prefix: string): KvEntry[] {
    return this.sorted.withPrefix(prefix).map((k) => this.entries.get(k)!)
  }

  /** Index of a single-key read: its ModifyIndex, or (absent) its tombstone / the reap floor; min 1. */
  keyIndex(key: string): bigint {
    const e = this.entries.get(key)
    if (e) return e.modifyIndex
    return max1(this.tombstones.get(key)?.index ?? 0n, this.reapFloor)
  }

  /** Index of a list/keys read: max over live entries and tombstones under the prefix, and the reap floor; min 1. */
  prefixIndex(prefix: string): bigint {
    if (prefix === '') return max1(this.kvIndex)
    let m = this.reapFloor
    for (const k of this.sorted.withPrefix(prefix)) {
      const e = this.entries.get(k)!
      if (e.modifyIndex > m) m = e.modifyIndex
    }
    for (const k of this.sortedTombstones.withPrefix(prefix)) {
      const t = this.tombstones.get(k)!
      if (t.index > m) m = t.index
    }
    return max1(m)
  }

  /** Tombstoned keys under `prefix`, in byte order (a delta read's deletions, see prefix-reads.ts). */
  tombstonesUnder(prefix: string): string[] {
    return this.sortedTombstones.withPrefix(prefix)
  }

  private tomb(key: string, t: Tombstone): void {
    if (!this.tombstones.has(key)) this.sortedTombstones.add(key)
    this.tombstones.set(key, t)
  }

  private untomb(key: string): void {
    if (this.tombstones.delete(key)) this.sortedTombstones.remove(key)
  }

  async close(): Promise<void> {
    await this.queue
    this.closed = true
    this.db.close()
  }
}

/** Keys kept in byte order (compareBytes), updated one insert/remove at a time. */
class SortedKeys {
  private keys: string[] = []

  reset(keys: string[]): void {
    this.keys = keys.sort(compareBytes)
  }

  /** First position whose key is >= k. */
  private lowerBound(k: string): number {
    let lo = 0
    let hi = this.keys.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (compareBytes(this.keys[mid]!, k) < 0) lo = mid + 1
      else hi = mid
    }
    return lo
  }

  add(k: string): void {
    this.keys.splice(this.lowerBound(k), 0, k)
  }

  remove(k: string): void {
    const at = this.lowerBound(k)
    if (this.keys[at] === k) this.keys.splice(at, 1)
  }

  /** Keys starting with `prefix`, in order (every key for ''). */
  withPrefix(prefix: string): string[] {
    const out: string[] = []
    for (
      let i = this.lowerBound(prefix);
      i < this.keys.length && this.keys[i]!.startsWith(prefix);
      i++
    )
      out.push(this.keys[i]!)
    return out
  }
}

const max1 = (...v: bigint[]) => v.reduce((a, b) => (b > a ? b : a), 1n)
const enc = new TextEncoder()
const NON_ASCII = /[^\x00-\x7f]/

/** Byte-wise (UTF-8) key order, as Consul's radix tree sorts. */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0
  // UTF-16 order equals UTF-8 byte order except around surrogates; compare bytes only when needed.
  if (!NON_ASCII.test(a) && !NON_ASCII.test(b)) return a < b ? -1 : 1
  return Buffer.compare(enc.encode(a), enc.encode(b))
}
