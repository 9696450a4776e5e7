// In-memory wake-up registry for parked blocking queries. Waiters are woken from the
// engine's commit path (no polling); each waiter filters the commit by the keys it reads.
import type { CommitEvent } from './engine.ts'

export type WaitOutcome = 'woken' | 'timeout' | 'aborted'

interface Waiter {
  matches: (e: CommitEvent) => boolean
  done: (o: WaitOutcome) => void
}

export class Notifier {
  private readonly waiters = new Set<Waiter>()

  /** Number of parked requests (for tests and metrics). */
  get size(): number {
    return this.waiters.size
  }

  /** Park until a matching commit, `timeoutMs`, or `signal` aborts (client went away). */
  wait(
    matches: (e: CommitEvent) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<WaitOutcome> {
    if (signal?.aborted) return Promise.resolve('aborted')
    return new Promise((resolve) => {
      const onAbort = () => w.done('aborted')
      const timer = setTimeout(() => w.done('timeout'), Math.max(0, timeoutMs))
      const w: Waiter = {
        matches,
        done: (o) => {
          if (!this.waiters.delete(w)) return
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          resolve(o)
        },
      }
      this.waiters.add(w)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Called from the commit path after memory reflects the commit. */
  notify(e: CommitEvent): void {
    for (const w of [...this.waiters]) if (w.matches(e)) w.done('woken')
  }

  /** Release every waiter (server shutdown): they answer with the current state. */
  wakeAll(): void {
    for (const w of [...this.waiters]) w.done('woken')
  }
}
