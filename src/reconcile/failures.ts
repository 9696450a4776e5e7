// The reconciler's record of items it could not program: which item, the operation, the
// error, since when, how often, and when to try again. An item that fails is written here
// and the pass goes on with the others; a later pass retries it (after a backoff, or at once
// when its desired spec changes). Counters by kind are monotonic, for /metrics.

/** The kinds of item a pass programs, each on its own. */
export type ItemKind = 'network' | 'local-endpoint' | 'remote-endpoint' | 'members'
export const ITEM_KINDS: readonly ItemKind[] = [
  'network',
  'local-endpoint',
  'remote-endpoint',
  'members',
]

/** The datapath operation that failed. */
export type ItemOp = 'upsert' | 'remove' | 'attach' | 'detach' | 'set'

/** One item that fails, as /healthz reports it. */
export interface ItemFailure {
  kind: ItemKind
  /**
   * The item within its kind: the VNI for a network and for members, the host veth name for a
   * local endpoint ("vni/ip" for forwarding state whose veth is gone), "vni/ip" for a remote endpoint.
   */
  key: string
  /** The item in words, e.g. "endpoint 3f2a9c01b2d4 (wf3f2a9c01b2, eth0 in sandbox x) in VNI 256". */
  subject: string
  /** The network the item belongs to. */
  vni: number
  /** The endpoint (local endpoints whose record is known). */
  endpointId?: string
  op: ItemOp
  error: string
  /** First failure of this run of failures (epoch ms). */
  since: number
  /** Failed attempts in a row. */
  attempts: number
  /** Last failed attempt (epoch ms). */
  lastAttempt: number
  /** Not tried again before this (epoch ms), unless its desired spec changes. */
  retryAt: number
}

/** What a failure is about (the rest of ItemFailure is the book's). */
export type ItemRef = Pick<ItemFailure, 'kind' | 'key' | 'subject' | 'op' | 'vni' | 'endpointId'>

export interface FailureBookOptions {
  /** First retry delay; doubles per failed attempt. */
  retryBaseMs?: number
  /** Longest retry delay. */
  retryMaxMs?: number
  now?: () => number
}

export class FailureBook {
  private readonly items = new Map<string, ItemFailure & { fp: string }>()
  private readonly totals = Object.fromEntries(ITEM_KINDS.map((k) => [k, 0])) as Record<
    ItemKind,
    number
  >
  private readonly baseMs: number
  private readonly maxMs: number
  private readonly now: () => number

  constructor(opts: FailureBookOptions = {}) {
    this.baseMs = opts.retryBaseMs ?? 500
    this.maxMs = opts.retryMaxMs ?? 30_000
    this.now = opts.now ?? Date.now
  }

  /** Record a failed attempt. `fp` is the desired spec's fingerprint it failed with. */
  fail(item: ItemRef, error: string, fp = ''): ItemFailure {
    const id = bookKey(item.kind, item.key)
    const now = this.now()
    const had = this.items.get(id)
    const attempts = (had?.attempts ?? 0) + 1
    const delay = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(attempts - 1, 30))
    const rec = {
      ...item,
      error,
      since: had?.since ?? now,
      attempts,
      lastAttempt: now,
      retryAt: now + delay,
      fp,
    }
    this.items.set(id, rec)
    this.totals[item.kind]++
    return publicCopy(rec)
  }

  /** The item was programmed (or is no longer wanted): it no longer fails. */
  clear(kind: ItemKind, key: string): void {
    this.items.delete(bookKey(kind, key))
  }

  get(kind: ItemKind, key: string): ItemFailure | undefined {
    const rec = this.items.get(bookKey(kind, key))
    return rec && publicCopy(rec)
  }

  /** True while a failed item waits out its backoff and its desired spec (`fp`) is unchanged. */
  backingOff(kind: ItemKind, key: string, fp = ''): boolean {
    const rec = this.items.get(bookKey(kind, key))
    return !!rec && rec.fp === fp && this.now() < rec.retryAt
  }

  /** Drop failures of `kind` whose item is not in `keep` (neither wanted nor held any more). */
  retain(kind: ItemKind, keep: (key: string) => boolean): ItemFailure[] {
    const dropped: ItemFailure[] = []
    for (const [id, rec] of this.items) {
      if (rec.kind === kind && !keep(rec.key)) {
        this.items.delete(id)
        dropped.push(publicCopy(rec))
      }
    }
    return dropped
  }

  /** Every item failing now, by kind then key. */
  list(): ItemFailure[] {
    return [...this.items.values()]
      .map(publicCopy)
      .sort(
        (a, b) =>
          ITEM_KINDS.indexOf(a.kind) - ITEM_KINDS.indexOf(b.kind) || a.key.localeCompare(b.key),
      )
  }

  get size(): number {
    return this.items.size
  }

  /** Failed attempts since start, by kind (monotonic). */
  totalsByKind(): Record<ItemKind, number> {
    return { ...this.totals }
  }

  /** The earliest time a failed item may be retried, or undefined when nothing fails. */
  nextRetryAt(): number | undefined {
    let at: number | undefined
    for (const rec of this.items.values())
      if (at === undefined || rec.retryAt < at) at = rec.retryAt
    return at
  }

  /** One line for the pass's summary: "2 items failing: local-endpoint wf0a1b2c3d4e (attach): …; and 1 more". */
  summary(): string | null {
    const all = this.list()
    if (all.length === 0) return null
    const f = all[0]!
    const more = all.length > 1 ? `; and ${all.length - 1} more` : ''
    return `${all.length} item${all.length > 1 ? 's' : ''} failing: ${f.subject} (${f.op}): ${f.error}${more}`
  }
}

const bookKey = (kind: ItemKind, key: string) => `${kind} ${key}`

function publicCopy(rec: ItemFailure & { fp: string }): ItemFailure {
  const { fp: _fp, ...pub } = rec
  return pub
}
