// A list read of a prefix (its index, its entries, its recurse JSON), computed once per state
// of the store: every host follows the same prefixes (nodes, networks, the endpoints of each
// network it serves), so one commit wakes a long poll per host on each changed prefix, and each
// re-read the same prefix: its index (a walk of every entry under it), its entries and their
// JSON. The answers are kept while the engine's version stays (until a change is applied or
// undone, or tombstones are reaped), so only the prefixes read since then are held.
//
// A delta read (weft's own extension, see delta-reads in kv-routes.ts) is kept the same way,
// per prefix and `since` index: the hosts a commit wakes mostly ask since the same index. It
// costs the changes since `since`, not the prefix: the keys come from the engine's log of recent
// changes (commit-log.ts), the prefix's index from its last value and the changes since that
// (kept across versions); only a reader further behind than the log pays the walk.
//
// Entries' JSON is built for the answer that needs it and kept with that answer only (until the
// next change): kept per entry for the entry's lifetime it was a second copy of every listed
// value at rest (2.5 M characters at 3,000 endpoints), and every weft watch reads deltas, which
// serialise only what changed anyway.
import type { KvEntry } from '../types.ts'
import { compareBytes, type KvEngine } from './engine.ts'

export interface PrefixRead {
  index: bigint
  /** The entries under the prefix, in byte order (listed on first use). */
  readonly entries: KvEntry[]
  /** The recurse answer's JSON array (built on first use). */
  body(): string
}

/** What changed under a prefix after an index: entries written since, keys deleted since. */
export interface PrefixDelta {
  index: bigint
  put: KvEntry[]
  deleted: string[]
  /** The answer's JSON object, `{"Entries":[…],"Deleted":[…]}` (built on first use). */
  body(): string
}

/** A prefix's index as of a mark in the engine's log (see indexOf). */
interface KnownIndex {
  index: bigint
  seq: number
  epoch: number
}

/** Known prefix indexes kept at most (one per prefix read; a few hundred in a cluster). */
const MAX_KNOWN_INDEXES = 20_000

/** One prefix's answers for one version of the store. */
class Kept implements PrefixRead {
  deltas?: Map<bigint, PrefixDelta | undefined>
  private listed?: KvEntry[]
  private json?: string

  constructor(
    private readonly engine: KvEngine,
    private readonly prefix: string,
    readonly index: bigint,
  ) {}

  get entries(): KvEntry[] {
    return (this.listed ??= this.engine.list(this.prefix))
  }

  body(): string {
    return (this.json ??= listBody(this.entries))
  }

  /** Entries listed so far (0 if never listed) and the built body's length (0 if not built). */
  held(): { entries: number; bodyChars: number; bodyEntries: number } {
    return {
      entries: this.listed?.length ?? 0,
      bodyChars: this.json?.length ?? 0,
      bodyEntries: this.json === undefined ? 0 : this.listed!.length,
    }
  }
}

export class PrefixReads {
  private reads = new Map<string, Kept>()
  private version = -1
  /** Each read prefix's index when last asked, kept across versions (see indexOf). */
  private known = new Map<string, KnownIndex>()

  constructor(private readonly engine: KvEngine) {}

  /** What the cache holds now (a measuring aid: bench/rss.ts's census of the store thread). */
  census(): {
    prefixes: number
    entries: number
    bodies: number
    bodyChars: number
    deltas: number
    entryJsons: number
    entryJsonChars: number
    knownIndexes: number
    logRecords: number
  } {
    const c = {
      prefixes: 0,
      entries: 0,
      bodies: 0,
      bodyChars: 0,
      deltas: 0,
      entryJsons: 0,
      entryJsonChars: 0,
      knownIndexes: this.known.size,
      logRecords: this.engine.log.size,
    }
    for (const r of this.reads.values()) {
      const h = r.held()
      c.prefixes++
      c.entries += h.entries
      c.deltas += r.deltas?.size ?? 0
      if (h.bodyChars > 0) c.bodies++
      c.bodyChars += h.bodyChars
      // entry JSON lives only inside the answers built from it
      c.entryJsons += h.bodyEntries
      c.entryJsonChars += h.bodyChars
      for (const d of r.deltas?.values() ?? []) {
        const chars = (d as KeptDelta | undefined)?.builtChars() ?? 0
        if (chars === 0) continue
        c.entryJsons += d!.put.length
        c.entryJsonChars += chars
      }
    }
    return c
  }

  /**
   * Forget every kept answer and known index (the store went idle: see idle-trim.ts). The next
   * read builds them again, so only memory changes, never an answer.
   */
  drop(): void {
    this.reads = new Map()
    this.known = new Map()
  }

  read(prefix: string): PrefixRead {
    const r = this.kept(prefix)
    // listed now, in the turn its index was taken (a delta-only prefix is never listed)
    void r.entries
    return r
  }

  /**
   * The changes under `prefix` after index `since`, or undefined when the store cannot tell
   * them: tombstones after `since` were reaped (a deletion would be missed), or `since` is
   * above the prefix's index (an index of another store or of a restored one). The caller then
   * answers with the full list.
   */
  delta(prefix: string, since: bigint): PrefixDelta | undefined {
    const r = this.kept(prefix)
    r.deltas ??= new Map()
    if (r.deltas.has(since)) return r.deltas.get(since)
    const e = this.engine
    let d: PrefixDelta | undefined
    if (since >= e.reapFloor && since <= r.index) {
      const { put, deleted } =
        since >= e.log.floor ? changesFromLog(e, prefix, since) : changesByWalk(e, prefix, since)
      d = new KeptDelta(r.index, put, deleted)
    }
    r.deltas.set(since, d)
    return d
  }

  private kept(prefix: string): Kept {
    const e = this.engine
    if (e.version !== this.version) {
      this.reads = new Map()
      this.version = e.version
    }
    let r = this.reads.get(prefix)
    if (!r) {
      r = new Kept(e, prefix, this.indexOf(prefix))
      this.reads.set(prefix, r)
    }
    return r
  }

  /**
   * The prefix's index (engine.prefixIndex) without walking it each version: its last known
   * value, raised by the logged changes under it since then and by the reap floor. Exact
   * because a change leaves its key at the change's index (a put's ModifyIndex, a delete's
   * tombstone), which only rises; a reap only drops tombstones at or below the floor; an undo
   * (the one way down) moves the log's epoch and the index is walked again.
   */
  private indexOf(prefix: string): bigint {
    const e = this.engine
    const log = e.log
    const k = this.known.get(prefix)
    let index: bigint
    if (prefix === '') index = e.prefixIndex('')
    else if (k && k.epoch === log.epoch && log.holdsSince(k.seq)) {
      index = k.index
      const logged = log.maxIndexSince(k.seq, prefix)
      if (logged > index) index = logged
      if (e.reapFloor > index) index = e.reapFloor
    } else index = e.prefixIndex(prefix)
    if (!k && this.known.size >= MAX_KNOWN_INDEXES) this.known = new Map()
    this.known.set(prefix, { index, seq: log.seq, epoch: log.epoch })
    return index
  }
}

class KeptDelta implements PrefixDelta {
  private json?: string

  constructor(
    readonly index: bigint,
    readonly put: KvEntry[],
    readonly deleted: string[],
  ) {}

  body(): string {
    return (this.json ??= `{"Entries":${listBody(this.put)},"Deleted":${JSON.stringify(this.deleted)}}`)
  }

  builtChars(): number {
    return this.json?.length ?? 0
  }
}

/** The changes after `since` (>= the log's floor) from the log: each changed key's state now. */
function changesFromLog(
  e: KvEngine,
  prefix: string,
  since: bigint,
): { put: KvEntry[]; deleted: string[] } {
  const keys = [...new Set(e.log.keysAfter(since, prefix))].sort(compareBytes)
  const put: KvEntry[] = []
  const deleted: string[] = []
  for (const k of keys) {
    const live = e.entries.get(k)
    if (live) {
      if (live.modifyIndex > since) put.push(live)
    } else if ((e.tombstones.get(k)?.index ?? 0n) > since) deleted.push(k)
  }
  return { put, deleted }
}

/** The changes after `since` by walking every entry and tombstone under the prefix. */
function changesByWalk(
  e: KvEngine,
  prefix: string,
  since: bigint,
): { put: KvEntry[]; deleted: string[] } {
  return {
    put: e.list(prefix).filter((x) => x.modifyIndex > since),
    deleted: e.tombstonesUnder(prefix).filter((k) => e.tombstones.get(k)!.index > since),
  }
}

function listBody(entries: KvEntry[]): string {
  return `[${entries.map(entryJson).join(',')}]`
}

/**
 * An entry's wire JSON, the same text as stringifyJson(entryToWire(e)) (same fields, same
 * order) written directly: answers no longer keep each entry's JSON across changes, so a
 * listing serialises all of its entries, and the generic path (a wire object, a bigint replacer,
 * a Buffer copy per value) was ~4x the cost (test/kv/prefix-reads.test.ts checks the text).
 */
export function entryJson(e: KvEntry): string {
  const value = e.value.length > 0 ? `"${e.value.toBase64()}"` : 'null'
  const session = e.session ? `,"Session":${JSON.stringify(e.session)}` : ''
  return `{"LockIndex":${e.lockIndex},"Key":${JSON.stringify(e.key)},"Flags":${e.flags},"Value":${value},"CreateIndex":${e.createIndex},"ModifyIndex":${e.modifyIndex}${session}}`
}
