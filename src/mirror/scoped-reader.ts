// What a connect's first guess reads when the mirror is scoped: networks and this node's port
// claims from the mirror (followed by every host); endpoints of a followed, synced network (the
// prefix or one key) from the mirror, and its IPAM keys
// derived from them (an address key is written and deleted with its endpoint, in one
// transaction); anything of a network this host does not follow from the store. A wrong guess
// costs one retry: the connect's CAS checks catch it, and nothing is refused on a guess.
import { keys, ROOT, type StoreReader } from '../cluster/index.ts'
import type { StoreEntry } from '../store/index.ts'

/** A read of one network's endpoints or addresses: the whole prefix, or one key of it. */
const NETWORK_READ = new RegExp(`^${ROOT.replace(/[/.]/g, '\\$&')}(endpoints|ipam)/([^/]+)/(.*)$`)

export function scopedReader(
  mirror: StoreReader,
  follower: { synced(networkId: string): boolean },
  store: StoreReader,
): StoreReader {
  return {
    async list(this: StoreReader, prefix: string): Promise<StoreEntry[]> {
      const m = NETWORK_READ.exec(prefix)
      if (!m) return mirror.list(prefix)
      const [, kind, networkId, rest] = m as unknown as [
        string,
        'endpoints' | 'ipam',
        string,
        string,
      ]
      if (!follower.synced(networkId)) return store.list(prefix)
      if (rest !== '')
        return kind === 'endpoints'
          ? mirror.list(prefix)
          : (await this.list(keys.ipamOf(networkId))).filter((e) => e.key.startsWith(prefix))
      const eps = await mirror.list(keys.endpointsOf(networkId))
      if (kind === 'endpoints') return eps
      const out: StoreEntry[] = []
      for (const e of eps) {
        let r: { id?: unknown; ip?: unknown }
        try {
          r = JSON.parse(e.value) as typeof r
        } catch {
          continue // an unparsable record holds no address we can name; the CAS still guards it
        }
        if (typeof r.ip === 'string' && typeof r.id === 'string')
          out.push({ key: keys.ipam(networkId, r.ip), value: r.id, modifyIndex: e.modifyIndex })
      }
      return out
    },
  }
}
