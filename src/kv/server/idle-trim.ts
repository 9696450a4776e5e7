// Give back what a burst of writes left behind once the store goes quiet. The list cache
// (prefix-reads.ts) keeps the last version's answers (and their JSON) and each read prefix's
// known index until the next change; at rest nothing reads them until then, and the collector
// rarely runs (little is allocated). It used to keep every listed entry's JSON for the entry's
// lifetime (~2.5 MB at 3,000 endpoints), which this trim was made for; answers no longer keep
// it, so what is left to drop is small. A commit re-arms one timer; after `idleMs` without one
// the cache is dropped, once per burst (at rest nothing commits: session renewals are in memory
// only); the collector frees it at its next run.
import type { KvEngine } from './engine.ts'
import type { PrefixReads } from './prefix-reads.ts'

export interface IdleTrimOptions {
  /** Quiet time after the last commit before trimming. */
  idleMs: number
  /**
   * What to run after dropping the cache (default: nothing). A forced full collection added
   * nothing measurable (JSC collects a burst's garbage by itself: bench/results/
   * store-rss-2026-12-02.md) and stops every request of the store's thread while it runs.
   */
  collect?: () => void
}

export interface IdleTrim {
  /** Trims done since start (tests, census). */
  readonly trims: number
  stop(): void
}

export function trimWhenIdle(
  engine: KvEngine,
  reads: PrefixReads,
  { idleMs, collect = () => {} }: IdleTrimOptions,
): IdleTrim {
  let lastCommit = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  let trims = 0
  const check = () => {
    timer = undefined
    if (stopped) return
    const quiet = performance.now() - lastCommit
    if (quiet < idleMs) return arm(idleMs - quiet)
    reads.drop()
    collect()
    trims++
  }
  // one timer per burst, not one per commit: a commit only notes its time
  const arm = (ms: number) => {
    timer = setTimeout(check, ms)
    timer.unref?.()
  }
  engine.onCommit(() => {
    lastCommit = performance.now()
    if (!timer && !stopped) arm(idleMs)
  })
  return {
    get trims() {
      return trims
    },
    stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      timer = undefined
    },
  }
}
