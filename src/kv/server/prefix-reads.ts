// A list read of a prefix (its index, its entries, its recurse JSON), computed once per state
// of the store: every host follows the same prefixes (nodes, networks, the endpoints of each
// network it serves), so one commit wakes a long poll per host on each changed prefix, and each
// re-read the same prefix: its index (a walk of every entry under it), its entries and their
// JSON. The answers are kept while the engine's version stays (until a change is applied or
// undone, or tombstones are reaped), so only the prefixes read since then are held.
//
// A delta read (weft's own extension, see delta-reads in kv-routes.ts) is kept the same way,
// per prefix and `since` index: the hosts a commit wakes mostly ask since the same index.
import { stringifyJson } from '../json.ts'
import { entryToWire, type KvEntry } from '../types.ts'
import type { KvEngine } from './engine.ts'

export interface PrefixRead {
  index: bigint
  entries: KvEntry[]
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

interface Kept extends PrefixRead {
  deltas?: Map<bigint, PrefixDelta | undefined>
  /** Length of the body if built, else 0. */
  builtChars(): number
}

export class PrefixReads {
  private readonly reads = new Map<string, Kept>()
  private version = -1
  /**
   * Each entry's JSON, built once (entries are immutable: a write makes a new one): a listing
   * is joined from them, so a prefix read after a commit serialises only what changed. It
   * holds a second copy of every listed value (base64 in JSON), so drop() lets it go at rest.
   */
  private entryJson = new WeakMap<KvEntry, string>()

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
  } {
    const c = {
      prefixes: 0,
      entries: 0,
      bodies: 0,
      bodyChars: 0,
      deltas: 0,
      entryJsons: 0,
      entryJsonChars: 0,
    }
    for (const e of this.engine.entries.values()) {
      const j = this.entryJson.get(e)
      if (j === undefined) continue
      c.entryJsons++
      c.entryJsonChars += j.length
    }
    for (const r of this.reads.values()) {
      c.prefixes++
      c.entries += r.entries.length
      c.deltas += r.deltas?.size ?? 0
      const chars = r.builtChars()
      if (chars > 0) c.bodies++
      c.bodyChars += chars
    }
    return c
  }

  /**
   * Forget every kept answer and entry JSON (the store went idle: see idle-trim.ts). The next
   * read builds them again, so only memory changes, never an answer.
   */
  drop(): void {
    this.reads.clear()
    this.entryJson = new WeakMap()
  }

  read(prefix: string): PrefixRead {
    return this.kept(prefix)
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
    let d: PrefixDelta | undefined
    const json = this.entryJson
    if (since >= this.engine.reapFloor && since <= r.index) {
      const put = r.entries.filter((e) => e.modifyIndex > since)
      const deleted = this.engine
        .tombstonesUnder(prefix)
        .filter((k) => this.engine.tombstones.get(k)!.index > since)
      let body: string | undefined
      d = { index: r.index, put, deleted, body: () => (body ??= deltaBody(json, put, deleted)) }
    }
    r.deltas.set(since, d)
    return d
  }

  private kept(prefix: string): Kept {
    const e = this.engine
    if (e.version !== this.version) {
      this.reads.clear()
      this.version = e.version
    }
    let r = this.reads.get(prefix)
    if (!r) {
      const entries = e.list(prefix)
      let body: string | undefined
      const json = this.entryJson
      r = {
        index: e.prefixIndex(prefix),
        entries,
        body: () => (body ??= listBody(json, entries)),
        builtChars: () => body?.length ?? 0,
      }
      this.reads.set(prefix, r)
    }
    return r
  }
}

function listBody(entryJson: WeakMap<KvEntry, string>, entries: KvEntry[]): string {
  const parts = entries.map((e) => {
    let j = entryJson.get(e)
    if (j === undefined) entryJson.set(e, (j = stringifyJson(entryToWire(e))))
    return j
  })
  return `[${parts.join(',')}]`
}

function deltaBody(entryJson: WeakMap<KvEntry, string>, put: KvEntry[], deleted: string[]): string {
  return `{"Entries":${listBody(entryJson, put)},"Deleted":${JSON.stringify(deleted)}}`
}
