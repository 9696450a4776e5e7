// After a burst of cluster changes, once the mirror is quiet: one full collection, and the
// clean pages of the binary the burst touched dropped again. A burst (1,000 connects) leaves
// tens of MB of garbage (snapshot answers, parsed records, change lists) that JSC collects only
// when the agent allocates again, and an agent at rest allocates little: at 1,000 endpoints
// that garbage was a fifth of its resident set (measured with bench/rss.ts, 2026-12). The
// collection waits for quiet, so it never slows the burst itself, and runs at most once per burst.
// Bun.shrink() first (JSC's shrink-when-idle: it also drops compiled code, which the burst's hot
// paths filled and which is rebuilt on use): another 5-9 MB per agent at 1,000 endpoints. A GC
// knob is a last resort; here it is the only one that reaches memory JSC keeps after a burst.
import { dropCleanBinaryPages } from '../embedded/index.ts'

export interface BurstCollectorOptions {
  /** Rows changed since the last collection that make a burst. */
  minRows?: number
  /** Quiet time after the last change before collecting. */
  quietMs?: number
  /** What collecting does (tests count calls). */
  collect?: () => void
}

const collectNow = () => {
  Bun.shrink() // deprecated in bun-types, but kept by Bun 1.4 (vm.shrinkFootprintWhenIdle)
  Bun.gc(true)
  try {
    dropCleanBinaryPages()
  } catch (e) {
    // the agent logged the same failure at start-up; here it runs in a timer, with no logger
    console.warn(
      `weft: dropping the binary's clean pages after a burst failed (the agent only stays bigger): ${(e as Error).message}`,
    )
  }
}

export class BurstCollector {
  private rows = 0
  private timer: ReturnType<typeof setTimeout> | undefined
  private readonly minRows: number
  private readonly quietMs: number
  private readonly collect: () => void

  constructor(o: BurstCollectorOptions = {}) {
    this.minRows = o.minRows ?? 200
    this.quietMs = o.quietMs ?? 3000
    this.collect = o.collect ?? collectNow
  }

  /** `n` mirror rows were written or deleted: (re)start the quiet timer once a burst is reached. */
  changed(n: number): void {
    this.rows += n
    if (this.rows < this.minRows) return
    clearTimeout(this.timer)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.rows = 0
      this.collect()
    }, this.quietMs)
    this.timer.unref()
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }
}

/**
 * The one collector of the process. Every mirror reports to it, so a process holding many
 * mirrors (the simulator's hundreds of hosts per worker) collects once per quiet spell, not once
 * per mirror: 250 full collections of a worker's heap stalled its initial sync for minutes.
 */
export const processBurstCollector = new BurstCollector()
