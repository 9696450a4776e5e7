// Runs tasks of one key one at a time, in arrival order; tasks of different keys run freely.
// A failed task does not stop the next one: its caller gets the failure.
export class KeyedQueue {
  private readonly tails = new Map<string, Promise<unknown>>()

  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    const run = prev.then(task, task)
    this.tails.set(key, run)
    const forget = () => {
      if (this.tails.get(key) === run) this.tails.delete(key)
    }
    run.then(forget, forget)
    return run
  }

  /** Keys with a task queued or running (for tests). */
  get size(): number {
    return this.tails.size
  }
}
