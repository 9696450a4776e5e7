// In-memory wake-up registry for parked blocking queries. Waiters are woken from the
// engine's commit path (no polling); each waiter filters the commit by the keys it reads.
//
// Design note (2026-12, issue 17): a KV waiter names the prefix it reads (`interest`), and
// waiters are kept by it, so a commit looks up the prefixes of the keys it changed instead of
// asking every parked query: with 1,000 hosts following their networks (12,000 parked queries)
// asking each one cost ~5 ms per commit, over half the store's CPU in a burst of connects.
// The waiter's own `matches` still decides (the index only finds the candidates), so a
// waiter is woken exactly as before; one without an interest (sessions) is asked every time.
//
// Design note (2026-12-03, h60): a parked query is one record (a Waiter) and its deadline a slot
// in one heap of deadlines served by a single timer, not a promise, three closures and a Timeout
// of its own per request: a parked request's state on the store is what it holds for minutes,
// once per watching host and network (blocking.ts).
import type { CommitEvent } from './engine.ts'

/** Why a parked waiter left the registry without being unparked. */
export type WaitOutcome = 'woken' | 'timeout'

/** A parked query as the notifier keeps it; `wake` is called once per park. */
export interface Waiter {
  matches(e: CommitEvent): boolean
  /** It left the registry: a matching commit ('woken'), its deadline ('timeout'), or wakeAll. */
  wake(o: WaitOutcome): void
}

/** What the notifier notes on a parked waiter (its place in the registry and the heap). */
interface Parked {
  w: Waiter
  interest: string | undefined
  /** performance.now() at which it times out */
  deadline: number
  /** index in the deadline heap */
  slot: number
}

export class Notifier {
  /** Waiters that named no interest: asked on every commit. */
  private readonly anyCommit = new Set<Parked>()
  /** Waiters by the key prefix they read (a single-key read names its key). */
  private readonly byPrefix = new Map<string, Set<Parked>>()
  /** Prefix length -> how many prefixes of byPrefix have it: a changed key is cut only there. */
  private readonly lengths = new Map<number, number>()
  /** Every parked waiter's record, by waiter. */
  private readonly parked = new Map<Waiter, Parked>()
  /** Min-heap of the parked by deadline; one timer is armed for its top. */
  private readonly heap: Parked[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  private timerAt = Infinity

  /** Number of parked requests (for tests and metrics). */
  get size(): number {
    return this.parked.size
  }

  /**
   * Park `w` until a matching commit or `timeoutMs` (then `w.wake` is called, once), or until
   * `unpark`. `interest`: a prefix every key `w.matches` can match starts with (the waiter is
   * then only asked about commits that change such a key); omit it to be asked about every commit.
   */
  park(w: Waiter, timeoutMs: number, interest?: string): void {
    if (this.parked.has(w)) throw new Error('Notifier.park: this waiter is parked already')
    const p: Parked = { w, interest, deadline: performance.now() + Math.max(0, timeoutMs), slot: 0 }
    this.parked.set(w, p)
    if (interest === undefined) this.anyCommit.add(p)
    else {
      let set = this.byPrefix.get(interest)
      if (!set) {
        this.byPrefix.set(interest, (set = new Set()))
        this.lengths.set(interest.length, (this.lengths.get(interest.length) ?? 0) + 1)
      }
      set.add(p)
    }
    this.heapPush(p)
    if (p.deadline < this.timerAt) this.arm()
  }

  /** Take `w` out without waking it (its client went away). Whether it was parked. */
  unpark(w: Waiter): boolean {
    const p = this.parked.get(w)
    if (!p) return false
    this.remove(p)
    return true
  }

  /** Called from the commit path after memory reflects the commit. */
  notify(e: CommitEvent): void {
    const woken: Parked[] = []
    for (const p of this.anyCommit) if (p.w.matches(e)) woken.push(p)
    if (this.byPrefix.size > 0) {
      const asked = new Set<Set<Parked>>()
      for (const key of e.kvKeys) {
        for (const len of this.lengths.keys()) {
          if (len > key.length) continue
          const set = this.byPrefix.get(len === key.length ? key : key.slice(0, len))
          if (!set || asked.has(set)) continue
          asked.add(set)
          for (const p of set) if (p.w.matches(e)) woken.push(p)
        }
      }
    }
    // out first, then woken: a waiter may park again from its wake (a re-check found no change)
    for (const p of woken) this.remove(p)
    for (const p of woken) p.w.wake('woken')
  }

  /** Release every waiter (server shutdown): they answer with the current state. */
  wakeAll(): void {
    const all = [...this.parked.values()]
    for (const p of all) this.remove(p)
    for (const p of all) p.w.wake('woken')
  }

  private remove(p: Parked): void {
    this.parked.delete(p.w)
    if (p.interest === undefined) this.anyCommit.delete(p)
    else {
      const set = this.byPrefix.get(p.interest)!
      set.delete(p)
      if (set.size === 0) {
        this.byPrefix.delete(p.interest)
        const n = this.lengths.get(p.interest.length)! - 1
        if (n === 0) this.lengths.delete(p.interest.length)
        else this.lengths.set(p.interest.length, n)
      }
    }
    this.heapRemove(p)
    // the timer stays armed for a deadline that may have left: it then finds nothing due
    if (this.heap.length === 0) this.disarm()
  }

  // ---- deadlines: one timer for the earliest ----------------------------------------------

  private arm(): void {
    this.disarm()
    const top = this.heap[0]
    if (!top) return
    this.timerAt = top.deadline
    this.timer = setTimeout(this.expire, Math.max(0, top.deadline - performance.now()))
  }

  private disarm(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = Infinity
  }

  /** The timer's callback: every waiter whose deadline has come is timed out. */
  private readonly expire = (): void => {
    this.timer = undefined
    this.timerAt = Infinity
    // a timer may fire a little early by performance.now(): 1 ms of slack, as setTimeout's own
    const now = performance.now() + 1
    const due: Parked[] = []
    while (this.heap.length > 0 && this.heap[0]!.deadline <= now) {
      const p = this.heap[0]!
      this.remove(p)
      due.push(p)
    }
    this.arm()
    for (const p of due) p.w.wake('timeout')
  }

  private heapPush(p: Parked): void {
    p.slot = this.heap.length
    this.heap.push(p)
    this.siftUp(p.slot)
  }

  private heapRemove(p: Parked): void {
    const h = this.heap
    const at = p.slot
    const last = h.pop()!
    if (last === p) return
    h[at] = last
    last.slot = at
    this.siftDown(at)
    this.siftUp(last.slot)
  }

  private siftUp(i: number): void {
    const h = this.heap
    while (i > 0) {
      const up = (i - 1) >> 1
      if (h[up]!.deadline <= h[i]!.deadline) break
      this.swap(i, up)
      i = up
    }
  }

  private siftDown(i: number): void {
    const h = this.heap
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let min = i
      if (l < h.length && h[l]!.deadline < h[min]!.deadline) min = l
      if (r < h.length && h[r]!.deadline < h[min]!.deadline) min = r
      if (min === i) return
      this.swap(i, min)
      i = min
    }
  }

  private swap(a: number, b: number): void {
    const h = this.heap
    const x = h[a]!
    const y = h[b]!
    h[a] = y
    h[b] = x
    x.slot = b
    y.slot = a
  }
}
