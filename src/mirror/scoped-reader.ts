// What a connect's first guess reads when the mirror is scoped: networks and this node's port
// claims from the mirror (followed by every host); endpoints of a followed, synced network (the
// prefix or one key) from the mirror; anything of a network this host does not follow, and every
// read of IPAM keys, from the store. Addresses come from the store because a released address
// must be handed out again at once, in order (as Docker's IPAM does), even when this host's
// mirror has not yet heard of the release (another host's, or a delete: own writes are puts).
// A wrong guess costs one retry: the connect's CAS checks catch it, and nothing is refused on a
// guess.
import { ROOT, type StoreReader } from '../cluster/index.ts'
import type { StoreEntry } from '../store/index.ts'

/** A read of one network's endpoints or addresses: the whole prefix, or one key of it. */
const NETWORK_READ = new RegExp(`^${ROOT.replace(/[/.]/g, '\\$&')}(endpoints|ipam)/([^/]+)/(.*)$`)

export function scopedReader(
  mirror: StoreReader,
  follower: { synced(networkId: string): boolean },
  store: StoreReader,
): StoreReader {
  return {
    async list(prefix: string): Promise<StoreEntry[]> {
      const m = NETWORK_READ.exec(prefix)
      if (!m) return mirror.list(prefix)
      const [, kind, networkId] = m as unknown as [string, 'endpoints' | 'ipam', string]
      if (kind === 'ipam' || !follower.synced(networkId)) return store.list(prefix)
      return mirror.list(prefix)
    },
  }
}
