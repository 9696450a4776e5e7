// Follow the cluster tree: the store's watch feeds the mirror, and every answer or failure
// of it updates the store status.
import type { ClusterStore, StoreStatus, StoreWatch } from '../store/index.ts'
import type { ClusterMirror } from './cluster-mirror.ts'

export function followStore(
  store: ClusterStore,
  prefix: string,
  mirror: ClusterMirror,
  status: StoreStatus,
  log?: { debug(o: object, m?: string): void; error(o: object, m?: string): void },
): StoreWatch {
  return store.watch(
    prefix,
    async (event) => {
      status.answered()
      await mirror.apply(event)
    },
    {
      onAnswer: () => status.answered(),
      onError(e) {
        status.failed((e as Error).message)
        // a store that is not the one we trust is a configuration error, not an outage
        if ((e as { code?: unknown }).code === 'store_identity')
          log?.error(
            { err: (e as Error).message },
            'configuration error: the store is not the one this agent was told to trust; backing off',
          )
        else log?.debug({ err: (e as Error).message }, 'watch failed; backing off')
      },
    },
  )
}
