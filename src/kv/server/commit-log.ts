// A short log of the store's recent KV changes: which key each recent commit changed, at which
// index, in commit order. A delta read (prefix-reads.ts) asks it for the keys changed after the
// reader's index, so a round costs the changes since, not a walk of the whole prefix (the walk
// was ~0.9 s of the store thread per 3,000-endpoint converge). It is bounded: the oldest
// records fall out, and a reader further behind than the log reaches gets the walk as before.
//
// Invariant the readers rely on: the log holds every KV change with an index above `floor`.
// Records are appended when a change is applied to memory and taken back when it is undone
// (a failed commit), so the log never names a change memory does not hold; `epoch` rises on
// every undo, so anything derived from the log before it (cached prefix indexes) is dropped.

export class CommitLog {
  private readonly indexes: bigint[]
  private readonly keys: string[]
  /** Records ever appended (minus undone ones): the next record's sequence number. */
  private end = 0
  /** Sequence number of the oldest record still held. */
  private start = 0
  /** Every change with an index above it is in the log (the highest index that fell out). */
  floor: bigint
  /** Rises on every undo (see the header). */
  epoch = 0

  constructor(
    readonly capacity: number,
    /** The store's index when the log starts: nothing at or below it is logged. */
    floor: bigint,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new Error(`commit log capacity must be a positive integer, got ${capacity}`)
    this.indexes = new Array<bigint>(capacity)
    this.keys = new Array<string>(capacity)
    this.floor = floor
  }

  /** The sequence number the next record gets (a mark for undo and for readers). */
  get seq(): number {
    return this.end
  }

  append(index: bigint, key: string): void {
    if (this.end - this.start === this.capacity) {
      const slot = this.start % this.capacity
      if (this.indexes[slot]! > this.floor) this.floor = this.indexes[slot]!
      this.start++
    }
    const slot = this.end % this.capacity
    this.indexes[slot] = index
    this.keys[slot] = key
    this.end++
  }

  /**
   * Take back the records from `mark` on (an undone change). Records that fell out meanwhile
   * stay out: the floor they raised only makes readers walk more, never answer wrong.
   */
  truncate(mark: number): void {
    this.epoch++
    this.end = Math.max(mark, this.start)
  }

  /** Whether every record appended since sequence number `mark` is still held. */
  holdsSince(mark: number): boolean {
    return mark >= this.start && mark <= this.end
  }

  /** Keys under `prefix` changed after `since` (since >= floor), newest first, repeats possible. */
  keysAfter(since: bigint, prefix: string): string[] {
    const out: string[] = []
    for (let s = this.end - 1; s >= this.start; s--) {
      const slot = s % this.capacity
      if (this.indexes[slot]! <= since) break
      const k = this.keys[slot]!
      if (k.startsWith(prefix)) out.push(k)
    }
    return out
  }

  /** The highest index of a record under `prefix` appended since `mark` (0 if none). */
  maxIndexSince(mark: number, prefix: string): bigint {
    let m = 0n
    for (let s = Math.max(mark, this.start); s < this.end; s++) {
      const slot = s % this.capacity
      if (this.indexes[slot]! > m && this.keys[slot]!.startsWith(prefix)) m = this.indexes[slot]!
    }
    return m
  }

  /** Records held (a measuring aid: the store thread's census). */
  get size(): number {
    return this.end - this.start
  }
}
