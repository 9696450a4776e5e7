// In-memory wake-up registry for parked blocking queries. Waiters are woken from the
// engine's commit path (no polling); each waiter filters the commit by the keys it reads.
//
// Design note (2026-12, issue 17): a KV waiter names the prefix it reads (`interest`), and
// waiters are kept by it, so a commit looks up the prefixes of the keys it changed instead of
// asking every parked query: with 1,000 hosts following their networks (12,000 parked queries)
// asking each one cost ~5 ms per commit, over half the store's CPU in a burst of connects.
// The waiter's own `matches` still decides (the index only finds the candidates), so a
// waiter is woken exactly as before; one without an interest (sessions) is asked every time.
import type { CommitEvent } from './engine.ts'

export type WaitOutcome = 'woken' | 'timeout' | 'aborted'

interface Waiter {
  matches: (e: CommitEvent) => boolean
  done: (o: WaitOutcome) => void
}

export class Notifier {
  /** Waiters that named no interest: asked on every commit. */
  private readonly anyCommit = new Set<Waiter>()
  /** Waiters by the key prefix they read (a single-key read names its key). */
  private readonly byPrefix = new Map<string, Set<Waiter>>()
  /** Prefix length -> how many prefixes of byPrefix have it: a changed key is cut only there. */
  private readonly lengths = new Map<number, number>()
  private count = 0

  /** Number of parked requests (for tests and metrics). */
  get size(): number {
    return this.count
  }

  /**
   * Park until a matching commit, `timeoutMs`, or `signal` aborts (client went away).
   * `interest`: a prefix every key `matches` can match starts with (the waiter is then only
   * asked about commits that change such a key); omit it to be asked about every commit.
   */
  wait(
    matches: (e: CommitEvent) => boolean,
    timeoutMs: number,
    signal?: AbortSignal,
    interest?: string,
  ): Promise<WaitOutcome> {
    if (signal?.aborted) return Promise.resolve('aborted')
    return new Promise((resolve) => {
      const onAbort = () => w.done('aborted')
      const timer = setTimeout(() => w.done('timeout'), Math.max(0, timeoutMs))
      const w: Waiter = {
        matches,
        done: (o) => {
          if (!this.remove(w, interest)) return
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          resolve(o)
        },
      }
      this.add(w, interest)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Called from the commit path after memory reflects the commit. */
  notify(e: CommitEvent): void {
    const woken: Waiter[] = []
    for (const w of this.anyCommit) if (w.matches(e)) woken.push(w)
    if (this.byPrefix.size > 0) {
      const asked = new Set<Set<Waiter>>()
      for (const key of e.kvKeys) {
        for (const len of this.lengths.keys()) {
          if (len > key.length) continue
          const set = this.byPrefix.get(len === key.length ? key : key.slice(0, len))
          if (!set || asked.has(set)) continue
          asked.add(set)
          for (const w of set) if (w.matches(e)) woken.push(w)
        }
      }
    }
    for (const w of woken) w.done('woken')
  }

  /** Release every waiter (server shutdown): they answer with the current state. */
  wakeAll(): void {
    const all = [...this.anyCommit, ...[...this.byPrefix.values()].flatMap((s) => [...s])]
    for (const w of all) w.done('woken')
  }

  private add(w: Waiter, interest: string | undefined): void {
    this.count++
    if (interest === undefined) return void this.anyCommit.add(w)
    let set = this.byPrefix.get(interest)
    if (!set) {
      this.byPrefix.set(interest, (set = new Set()))
      this.lengths.set(interest.length, (this.lengths.get(interest.length) ?? 0) + 1)
    }
    set.add(w)
  }

  /** Whether it was parked (a waiter is done once). */
  private remove(w: Waiter, interest: string | undefined): boolean {
    if (interest === undefined) {
      if (!this.anyCommit.delete(w)) return false
    } else {
      const set = this.byPrefix.get(interest)
      if (!set?.delete(w)) return false
      if (set.size === 0) {
        this.byPrefix.delete(interest)
        const n = this.lengths.get(interest.length)! - 1
        if (n === 0) this.lengths.delete(interest.length)
        else this.lengths.set(interest.length, n)
      }
    }
    this.count--
    return true
  }
}
