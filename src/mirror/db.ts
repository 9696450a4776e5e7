// The mirror db: the agent's local libSQL database. It holds a copy of the cluster tree (so
// the agent can program the datapath before the store answers) and host-local facts (which
// veth and ifindex belong to which endpoint, and the last error attaching it).
// One writer: the agent process.
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type { StoreEntry } from '../store/index.ts'
import { processBurstCollector } from './burst-collect.ts'
import { MirrorSql } from './sql.ts'

/** Ordered schema migrations; the index + 1 is the schema version. Never edit a shipped one. */
const MIGRATIONS: string[][] = [
  [
    `CREATE TABLE mirror (key TEXT PRIMARY KEY, value TEXT NOT NULL, modify_index TEXT NOT NULL)`,
    `CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
    `CREATE TABLE local_endpoints (
       endpoint_id TEXT PRIMARY KEY,
       host_ifname TEXT NOT NULL,
       ifindex INTEGER,
       status TEXT NOT NULL,
       error TEXT,
       updated TEXT NOT NULL)`,
  ],
]

/** One mirrored key: as the cluster store gave it. */
export type MirrorEntry = StoreEntry

/**
 * How the mirrored tree (entries(): mirror plus own writes) changed in one call: the entries
 * put (new or with another value or index) and the keys deleted. A caller that passes one in
 * keeps its derived state (the typed view) in step at the cost of the change, not of the tree.
 */
export interface MirrorChange {
  put: MirrorEntry[]
  deleted: string[]
}

export type LocalEndpointStatus = 'attached' | 'failed'

export interface LocalEndpointFact {
  endpointId: string
  hostIfname: string
  ifindex: number | null
  status: LocalEndpointStatus
  error: string | null
}

// Rows go in and out as one JSON array per statement, not one statement per row: a batch of
// thousands of statements (a first snapshot) costs a prepare each, and libSQL kept ~10 MB per
// 3,000 rows of memory after it (measured, 2026-12); one statement keeps only the rows.
const UPSERT_MIRROR = `INSERT INTO mirror (key, value, modify_index)
  SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true
  ON CONFLICT(key) DO UPDATE SET value = excluded.value, modify_index = excluded.modify_index`
const DELETE_MIRROR = 'DELETE FROM mirror WHERE key IN (SELECT value FROM json_each(?))'
const SET_LOCAL_ENDPOINT = `INSERT INTO local_endpoints (endpoint_id, host_ifname, ifindex, status, error, updated)
  VALUES (?, ?, ?, ?, ?, ?)
  ON CONFLICT(endpoint_id) DO UPDATE SET host_ifname = excluded.host_ifname,
    ifindex = excluded.ifindex, status = excluded.status, error = excluded.error, updated = excluded.updated`

/** SQLite page cache bound, KiB (negative cache_size = KiB). */
const CACHE_KIB = -128

/** How long an own write may wait for a snapshot that shows it before the snapshots win. */
const OWN_WRITE_TTL_MS = 30_000

export class MirrorDb {
  /**
   * Every directory ("a/b/") -> the mirror keys directly in it, and every directory with keys
   * below it -> its subdirectories that have some, so a prefix read walks only the directories
   * below the prefix (not every directory of the tree: 300 followed networks are 300 of them,
   * and each watch event read them all). Not every ancestor per key: that held each key once
   * per level, ~0.3 MB per simulated host of 3,000 keys.
   */
  private readonly dirs = new Map<string, Set<string>>()
  private readonly subdirs = new Map<string, Set<string>>([['', new Set()]])
  /** Transactions written and rows put or deleted since open (for /metrics). */
  readonly counts = { writes: 0, rows: 0 }
  /** Collects the garbage of a burst of writes once the process's mirrors are quiet. */
  private readonly bursts = processBurstCollector

  private constructor(
    private readonly db: MirrorSql,
    /** In-memory copy of the mirror table: the watch diffs snapshots against it. */
    private readonly mirror: Map<string, MirrorEntry>,
  ) {
    for (const k of mirror.keys()) this.indexKey(k, true)
  }

  private indexKey(key: string, add: boolean): void {
    const dir = parentDir(key)
    let set = this.dirs.get(dir)
    if (add) {
      if (set) return void set.add(key)
      this.dirs.set(dir, (set = new Set([key])))
      // a directory that had nothing below it joins the tree, and so may its parents
      let child: string | undefined
      for (let d = dir; ; d = parentDir(d.slice(0, -1))) {
        const inTree = this.subdirs.has(d)
        if (!inTree) this.subdirs.set(d, new Set())
        if (child !== undefined) this.subdirs.get(d)!.add(child)
        if (inTree) break
        child = d
      }
    } else if (set) {
      set.delete(key)
      if (set.size > 0) return
      this.dirs.delete(dir)
      // a directory with nothing left below it leaves the tree, and so may its parents
      for (let d = dir; d !== '' && !this.dirs.has(d) && this.subdirs.get(d)?.size === 0;) {
        this.subdirs.delete(d)
        const up = parentDir(d.slice(0, -1))
        this.subdirs.get(up)?.delete(d)
        d = up
      }
    }
  }

  /** Mirror keys below a directory prefix ("a/"): its own and its subdirectories'. */
  private *keysInDir(prefix: string): Iterable<string> {
    const todo = [prefix]
    for (let dir = todo.pop(); dir !== undefined; dir = todo.pop()) {
      const keys = this.dirs.get(dir)
      if (keys) yield* keys
      const below = this.subdirs.get(dir)
      if (below) todo.push(...below)
    }
  }

  static async open(path: string): Promise<MirrorDb> {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    const db = MirrorSql.open(path)
    db.exec('PRAGMA journal_mode=WAL')
    // No fsync per commit: everything here is a cache of the store and of the kernel, rebuilt
    // by the next watch and resync; WAL keeps it consistent through a crash either way.
    db.exec('PRAGMA synchronous=NORMAL')
    // A small page cache: the tree is a few MB at most and SQLite's misses are reads from the
    // kernel's page cache, outside the agent's resident set (default: 2 MB per connection).
    db.exec(`PRAGMA cache_size=${CACHE_KIB}`)
    migrate(db)
    const mirror = new Map<string, MirrorEntry>()
    for (const r of db.all('SELECT key, value, modify_index FROM mirror')) {
      const key = String(r.key)
      mirror.set(key, { key, value: String(r.value), modifyIndex: BigInt(String(r.modify_index)) })
    }
    return new MirrorDb(db, mirror)
  }

  /**
   * Writes this agent made that no snapshot has shown yet (read-your-own-writes): a connect
   * programs its endpoint as soon as the store accepted it, not after the watch brings it back.
   * Memory only; a snapshot at or past a write's index supersedes it (present or deleted).
   */
  private readonly own = new Map<string, { entry: MirrorEntry; atMs: number }>()
  /**
   * Index of the last snapshot applied in this process, per followed prefix ('' when one watch
   * follows the whole tree): a prefix's snapshot speaks only for the keys below it.
   */
  private readonly snapshotIndex = new Map<string, bigint>()

  /** Whether a snapshot prefix not ending in '/' was ever applied (then indexFor scans them all). */
  private partialPrefixes = false

  /** The index of the last snapshot of the prefix that covers `key` (the longest one), 0n before any. */
  private indexFor(key: string): bigint {
    if (!this.partialPrefixes) {
      // directory prefixes only: look up the key's directories, longest first (a few lookups,
      // not one per followed network)
      for (let i = key.lastIndexOf('/'); i >= 0; i = key.lastIndexOf('/', i - 1)) {
        const index = this.snapshotIndex.get(key.slice(0, i + 1))
        if (index !== undefined) return index
        if (i === 0) break
      }
      return this.snapshotIndex.get('') ?? 0n
    }
    let best = -1
    let index = 0n
    for (const [p, i] of this.snapshotIndex) {
      if (p.length > best && key.startsWith(p)) {
        best = p.length
        index = i
      }
    }
    return index
  }

  /** What entries() holds for a key now. */
  private effective(key: string): MirrorEntry | undefined {
    return this.own.get(key)?.entry ?? this.mirror.get(key)
  }

  /**
   * Run `mutate` (which changes the keys it returns, and may drop own writes) and report into
   * `into` how entries() changed for them; keys it holds the same as before are left out.
   */
  private async tracked(
    into: MirrorChange | undefined,
    mutate: (before: Map<string, MirrorEntry | undefined>) => Promise<boolean>,
  ): Promise<boolean> {
    if (!into) return mutate(new Map())
    const before = new Map<string, MirrorEntry | undefined>()
    const changed = await mutate(before)
    for (const [k, was] of before) {
      const now = this.effective(k)
      if (!now) {
        if (was) into.deleted.push(k)
      } else if (!was || was.value !== now.value || was.modifyIndex !== now.modifyIndex)
        into.put.push(now)
    }
    return changed
  }

  /** Mirror keys below a prefix ('' = all), without copying the tree when the prefix is a directory. */
  private keysUnder(prefix: string): Iterable<string> {
    if (prefix === '') return this.mirror.keys()
    if (prefix.endsWith('/')) return this.keysInDir(prefix)
    return [...this.mirror.keys()].filter((k) => k.startsWith(prefix))
  }

  /** The mirrored cluster tree (key -> entry): last snapshot plus own writes not yet in one. */
  entries(): ReadonlyMap<string, MirrorEntry> {
    if (this.own.size === 0) return this.mirror
    const merged = new Map(this.mirror)
    for (const [k, o] of this.own) merged.set(k, o.entry)
    return merged
  }

  /** Entries under a prefix (mirror plus own writes), without copying the tree. */
  list(prefix: string): MirrorEntry[] {
    const out: MirrorEntry[] = []
    const keys = prefix.endsWith('/')
      ? this.keysInDir(prefix)
      : [...this.mirror.keys()].filter((k) => k.startsWith(prefix))
    for (const k of keys) if (!this.own.has(k)) out.push(this.mirror.get(k)!)
    for (const [k, o] of this.own) if (k.startsWith(prefix)) out.push(o.entry)
    return out
  }

  /**
   * Record entries this agent just wrote (with the store's ModifyIndex). Returns whether any was
   * new; `into` gets the ones taken.
   */
  applyOwnWrite(entries: MirrorEntry[], into?: MirrorChange): boolean {
    let changed = false
    for (const e of entries) {
      if (e.modifyIndex <= this.indexFor(e.key)) continue // a snapshot already showed this write (or its undoing)
      const cur = this.effective(e.key)
      if (cur && cur.modifyIndex >= e.modifyIndex) continue
      this.own.set(e.key, { entry: e, atMs: Date.now() })
      into?.put.push(e)
      changed = true
    }
    return changed
  }

  /**
   * Drop own writes a snapshot of `prefix` at `index` covers, and any a snapshot never confirmed
   * in time (`before` learns what entries() held for them).
   */
  private settleOwnWrites(
    index: bigint,
    prefix: string,
    before: Map<string, MirrorEntry | undefined>,
  ): boolean {
    this.snapshotIndex.set(prefix, index)
    if (prefix !== '' && !prefix.endsWith('/')) this.partialPrefixes = true
    let dropped = false
    const expired = Date.now() - OWN_WRITE_TTL_MS
    for (const [k, o] of this.own) {
      // an index below the write's means the snapshot predates it, unless the store's
      // indexes went backwards (a new store): the TTL bounds that case
      if ((k.startsWith(prefix) && o.entry.modifyIndex <= index) || o.atMs < expired) {
        if (!before.has(k)) before.set(k, o.entry)
        this.own.delete(k)
        dropped = true
      }
    }
    return dropped
  }

  /**
   * Replace the mirror's keys below `prefix` (default: all of them) with a full snapshot of
   * that prefix, writing only the rows that changed. Returns whether anything changed; `into`
   * learns how entries() changed.
   */
  applySnapshot(
    snapshot: MirrorEntry[],
    index: bigint,
    prefix = '',
    into?: MirrorChange,
  ): Promise<boolean> {
    return this.tracked(into, async (before) => {
      const seen = new Set<string>()
      const changed: MirrorEntry[] = []
      for (const e of snapshot) {
        seen.add(e.key)
        const cur = this.mirror.get(e.key)
        if (cur && cur.modifyIndex === e.modifyIndex && cur.value === e.value) continue
        changed.push(e)
      }
      const gone = [...this.keysUnder(prefix)].filter((k) => !seen.has(k))
      return this.write(changed, gone, index, prefix, before)
    })
  }

  /**
   * Write the changed rows and delete the gone ones (one transaction), then settle own writes.
   * Returns whether anything changed.
   */
  private async write(
    changed: MirrorEntry[],
    gone: string[],
    index: bigint,
    prefix: string,
    before: Map<string, MirrorEntry | undefined>,
  ): Promise<boolean> {
    if (changed.length === 0 && gone.length === 0)
      return this.settleOwnWrites(index, prefix, before)
    const stmts: { sql: string; args: string[] }[] = []
    if (changed.length)
      stmts.push({
        sql: UPSERT_MIRROR,
        args: [JSON.stringify(changed.map((e) => [e.key, e.value, e.modifyIndex.toString()]))],
      })
    if (gone.length) stmts.push({ sql: DELETE_MIRROR, args: [JSON.stringify(gone)] })
    // One statement is a transaction of its own: no BEGIN and COMMIT around it.
    // The snapshot index is not written: nothing reads it (each start follows afresh).
    if (stmts.length === 1) this.db.run(stmts[0]!.sql, stmts[0]!.args)
    else this.db.transaction(stmts)
    this.counts.writes++
    this.counts.rows += changed.length + gone.length
    this.bursts.changed(changed.length + gone.length)
    for (const e of changed) {
      if (!before.has(e.key)) before.set(e.key, this.effective(e.key))
      if (!this.mirror.has(e.key)) this.indexKey(e.key, true)
      this.mirror.set(e.key, e)
    }
    for (const k of gone) {
      if (!before.has(k)) before.set(k, this.effective(k))
      this.mirror.delete(k)
      this.indexKey(k, false)
    }
    this.settleOwnWrites(index, prefix, before)
    return true
  }

  /**
   * Apply the changes since the last event (a store whose watch yields deltas): `put` entries
   * are written, `deleted` keys removed. `prefix`: the watched prefix the delta speaks for.
   * Returns whether anything changed; `into` learns how entries() changed.
   */
  applyDelta(
    put: MirrorEntry[],
    deleted: string[],
    index: bigint,
    prefix = '',
    into?: MirrorChange,
  ): Promise<boolean> {
    return this.tracked(into, async (before) => {
      // Monotonic: a delta never takes a key back to an older state. Two watches may cover one
      // key (a network's own and the wide one, while handing over), and a delta is never
      // repeated, so one applied after a newer snapshot must not undo what that brought.
      const changed = put.filter((e) => {
        const cur = this.mirror.get(e.key)
        return (
          !cur ||
          cur.modifyIndex < e.modifyIndex ||
          (cur.modifyIndex === e.modifyIndex && cur.value !== e.value)
        )
      })
      const gone = deleted.filter((k) => {
        const cur = this.mirror.get(k)
        return cur !== undefined && cur.modifyIndex <= index
      })
      return this.write(changed, gone, index, prefix, before)
    })
  }

  /**
   * Forget every mirrored key (and own write) for which `drop(key)` holds: a prefix this agent
   * stopped following. Its snapshot index goes too, so a later follow starts afresh.
   * Returns whether anything was removed; `into` learns the keys entries() no longer holds.
   */
  async forget(drop: (key: string) => boolean, into?: MirrorChange): Promise<boolean> {
    const gone = [...this.mirror.keys()].filter(drop)
    let changed = false
    for (const k of [...this.own.keys()])
      if (drop(k)) {
        if (!this.mirror.has(k)) into?.deleted.push(k) // else: below, with the mirror's keys
        changed = this.own.delete(k) || changed
      }
    for (const p of [...this.snapshotIndex.keys()])
      if (p !== '' && drop(p)) this.snapshotIndex.delete(p)
    if (gone.length === 0) return changed
    this.db.run(DELETE_MIRROR, [JSON.stringify(gone)])
    this.counts.writes++
    this.counts.rows += gone.length
    this.bursts.changed(gone.length)
    for (const k of gone) {
      this.mirror.delete(k)
      this.indexKey(k, false)
    }
    into?.deleted.push(...gone)
    return true
  }

  /** A host fact kept across restarts (the meta table); undefined when never set. */
  async fact(k: string): Promise<string | undefined> {
    const row = this.db.all('SELECT v FROM meta WHERE k = ?', [k])[0]
    return row ? String(row.v) : undefined
  }

  async setFact(k: string, v: string): Promise<void> {
    this.db.run(
      'INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v',
      [k, v],
    )
  }

  async localEndpoints(): Promise<LocalEndpointFact[]> {
    const rows = this.db.all('SELECT * FROM local_endpoints ORDER BY endpoint_id')
    return rows.map((r) => ({
      endpointId: String(r.endpoint_id),
      hostIfname: String(r.host_ifname),
      ifindex: r.ifindex === null ? null : Number(r.ifindex),
      status: String(r.status) as LocalEndpointStatus,
      error: r.error === null ? null : String(r.error),
    }))
  }

  async setLocalEndpoint(f: LocalEndpointFact): Promise<void> {
    this.db.run(SET_LOCAL_ENDPOINT, [
      f.endpointId,
      f.hostIfname,
      f.ifindex,
      f.status,
      f.error,
      new Date().toISOString(),
    ])
  }

  async deleteLocalEndpoint(hostIfname: string): Promise<void> {
    this.db.run('DELETE FROM local_endpoints WHERE host_ifname = ?', [hostIfname])
  }

  close(): void {
    // the collector is the process's, shared with other mirrors: its pending run (unref'd) stays
    this.db.close()
  }
}

function migrate(db: MirrorSql): void {
  const current = Number(db.all('PRAGMA user_version')[0]?.user_version ?? 0)
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction([...MIGRATIONS[v]!, `PRAGMA user_version = ${v + 1}`].map((sql) => ({ sql })))
  }
}

/** The directory a key is in ("a/b/c" -> "a/b/", "a" -> ""). */
function parentDir(key: string): string {
  return key.slice(0, key.lastIndexOf('/') + 1)
}
