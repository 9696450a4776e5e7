// A list read of a prefix (its index, its entries, its recurse JSON), computed once per state
// of the store: every host follows the same prefixes (nodes, networks, the endpoints of each
// network it serves), so one commit wakes a long poll per host on each changed prefix, and each
// re-read the same prefix: its index (a walk of every entry under it), its entries and their
// JSON. The answers are kept while the engine's version stays (until a change is applied or
// undone, or tombstones are reaped), so only the prefixes read since then are held.
import { stringifyJson } from '../json.ts'
import { entryToWire, type KvEntry } from '../types.ts'
import type { KvEngine } from './engine.ts'

export interface PrefixRead {
  index: bigint
  entries: KvEntry[]
  /** The recurse answer's JSON array (built on first use). */
  body(): string
}

/**
 * Each entry's JSON, built once (entries are immutable: a write makes a new one): a listing
 * is joined from them, so a prefix read after a commit serialises only what changed.
 */
const entryJson = new WeakMap<KvEntry, string>()

export class PrefixReads {
  private readonly reads = new Map<string, PrefixRead>()
  private version = -1

  constructor(private readonly engine: KvEngine) {}

  read(prefix: string): PrefixRead {
    const e = this.engine
    if (e.version !== this.version) {
      this.reads.clear()
      this.version = e.version
    }
    let r = this.reads.get(prefix)
    if (!r) {
      const entries = e.list(prefix)
      let body: string | undefined
      r = { index: e.prefixIndex(prefix), entries, body: () => (body ??= listBody(entries)) }
      this.reads.set(prefix, r)
    }
    return r
  }
}

function listBody(entries: KvEntry[]): string {
  const parts = entries.map((e) => {
    let j = entryJson.get(e)
    if (j === undefined) entryJson.set(e, (j = stringifyJson(entryToWire(e))))
    return j
  })
  return `[${parts.join(',')}]`
}
