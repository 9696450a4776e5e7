// Blocking-query loop (docs/CONSUL-API.md §2): index as u64 bigint, reset when it goes
// backwards, 0 treated as an error, capped exponential backoff with jitter on errors,
// a token bucket so a flapping key cannot spin, stop via AbortSignal or stop().
import type { KvEntry } from '../types.ts'
import { Backoff, TokenBucket, sleep, type BackoffOptions, type RateLimit } from './backoff.ts'
import { KvHttpError } from './errors.ts'
import type { QueryOptions, QueryResult } from './kv.ts'

export interface WatchOptions {
  /** Blocking wait per request in ms (default 60 s, server caps at 10 min). */
  waitMs?: number
  backoff?: BackoffOptions
  rateLimit?: RateLimit
  /**
   * Pace by the handler's cost: after an `onResult` that took t ms, the next request waits
   * until `paceFactor` × t ms have passed since it began. A cheap snapshot comes back at once;
   * an expensive one (a big tree) is coalesced, so handling it stays near 1/paceFactor of the time.
   */
  paceFactor?: number
  /** Upper bound of that wait, ms (default 200): one slow handler must not hold back the next change. */
  maxPaceMs?: number
  signal?: AbortSignal
  /** Called for every failed round (the loop keeps going). */
  onError?: (err: unknown, attempt: number) => void
  /** Called for every answered round, also one in which nothing changed. */
  onAnswer?: () => void
  consistency?: QueryOptions['consistency']
}

export interface Watch {
  stop(): void
  /** Resolves when the loop has ended (after stop/abort). */
  done: Promise<void>
}

/**
 * Run `query` as a blocking-query loop and call `onResult` whenever the index moved (and
 * on the first answer). `same(a, b)` lets callers skip deliveries whose data is unchanged.
 */
export function watchQuery<T>(
  query: (o: QueryOptions) => Promise<QueryResult<T>>,
  onResult: (r: QueryResult<T>) => void | Promise<void>,
  o: WatchOptions = {},
  same?: (a: T, b: T) => boolean,
): Watch {
  const ac = new AbortController()
  const signal = o.signal ? AbortSignal.any([o.signal, ac.signal]) : ac.signal
  const backoff = new Backoff(o.backoff)
  const bucket = new TokenBucket(o.rateLimit)
  const waitMs = o.waitMs ?? 60_000
  const done = (async () => {
    let index = 0n
    let last: { value: T } | undefined
    let paceUntil = 0
    while (!signal.aborted) {
      try {
        const pace = paceUntil - performance.now()
        if (pace > 0) await sleep(pace, signal)
        await bucket.take(signal)
        const r = await query({ index, waitMs, signal, retries: 0, consistency: o.consistency })
        if (r.index === 0n)
          throw new KvHttpError(
            'blocking query',
            200,
            'X-Consul-Index is missing or 0 (busy-loop guard)',
          )
        backoff.reset()
        o.onAnswer?.()
        if (r.index < index) {
          // Restore, tombstone reap or another cluster: start over with a non-blocking read.
          index = 0n
          continue
        }
        const moved = r.index > index
        const before = { index, last }
        index = r.index > 1n ? r.index : 1n
        if (moved && (!last || !same?.(last.value, r.value))) {
          // kept only to compare: without `same` it would hold a second copy of every answer
          if (same) last = { value: r.value }
          const began = performance.now()
          try {
            await onResult(r)
          } catch (e) {
            // not delivered: ask again from where the handler last succeeded, or a quiet store
            // answers the same index until its next write and the change is never handled
            index = before.index
            last = before.last
            throw e
          }
          if (o.paceFactor)
            paceUntil =
              began + Math.min((performance.now() - began) * o.paceFactor, o.maxPaceMs ?? 200)
        }
      } catch (e) {
        if (signal.aborted) break
        o.onError?.(e, backoff.attempts + 1)
        try {
          await sleep(backoff.next(), signal)
        } catch {
          break
        }
      }
    }
  })()
  return { stop: () => ac.abort(), done }
}

export interface PrefixSnapshot {
  /** Every entry under the prefix, sorted by key. */
  entries: KvEntry[]
  /** X-Consul-Index of this snapshot. */
  index: bigint
}

function sameEntries(a: KvEntry[], b: KvEntry[]): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!
    const y = b[i]!
    if (
      x.key !== y.key ||
      x.modifyIndex !== y.modifyIndex ||
      x.session !== y.session ||
      x.lockIndex !== y.lockIndex
    )
      return false
  }
  return true
}

/** Watch a prefix (recurse): `onChange` gets the full snapshot on start and after every change. */
export function watchPrefix(
  list: (prefix: string, o: QueryOptions) => Promise<QueryResult<KvEntry[]>>,
  prefix: string,
  onChange: (s: PrefixSnapshot) => void | Promise<void>,
  o: WatchOptions = {},
): Watch {
  return watchQuery(
    (q) => list(prefix, q),
    (r) => onChange({ entries: r.value, index: r.index }),
    o,
    sameEntries,
  )
}
