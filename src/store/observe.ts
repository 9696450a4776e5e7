// A cluster store that reports every committed write to a listener: how an agent's own
// writes reach its mirror at once (read-your-own-writes) without the store knowing of it.
import type { ClusterStore, StoreEntry } from './types.ts'

/** `store` with its `txn` replaced by `txn` (which may call the original): the seam of the wrappers below and of the agent's removals. */
export function withTxn(store: ClusterStore, txn: ClusterStore['txn']): ClusterStore {
  return {
    get address() {
      return store.address
    },
    leases: store.leases,
    get: (key) => store.get(key),
    list: (prefix) => store.list(prefix),
    watch: (prefix, onEvent, h) => store.watch(prefix, onEvent, h),
    txn,
  }
}

export function observeWrites(
  store: ClusterStore,
  onCommitted: (written: StoreEntry[]) => void,
): ClusterStore {
  return withTxn(store, async (ops) => {
    const outcome = await store.txn(ops)
    if (outcome.ok && outcome.written.length > 0) onCommitted(outcome.written)
    return outcome
  })
}
