// Serialise operations per key (a VNI): read-modify-write on one network's FDB must not
// interleave, while different networks proceed in parallel.

/** Runs `fn`s with the same key one after another. */
export class KeyedSerializer<K> {
  private tails = new Map<K, Promise<unknown>>()

  run<T>(key: K, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve()
    const next = prev.then(fn, fn)
    const tail = next.catch(() => {})
    this.tails.set(key, tail)
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key)
    })
    return next
  }
}
