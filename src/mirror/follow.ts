// Follow the cluster tree: the store's watch feeds the mirror, and every answer or failure
// of it updates the store status.
import type { ClusterStore, StoreStatus, StoreWatch } from '../store/index.ts'
import type { ClusterMirror } from './cluster-mirror.ts'

export function followStore(
  store: ClusterStore,
  prefix: string,
  mirror: ClusterMirror,
  status: StoreStatus,
  log?: { debug(o: object, m?: string): void },
): StoreWatch {
  return store.watch(
    prefix,
    async (event) => {
      status.answered()
      await mirror.apply(event)
    },
    {
      onError(e) {
        status.failed((e as Error).message)
        log?.debug({ err: (e as Error).message }, 'watch failed; backing off')
      },
    },
  )
}
