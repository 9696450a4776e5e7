// Turns a flat snapshot of the cluster tree (key -> JSON) into typed records. Records
// that do not parse (written by a newer or broken agent) are skipped and reported, never
// half-used.
import { parseKey, type ParsedKey } from './keys.ts'
import { EndpointRecord, NetworkRecord, NodeRecord } from './records.ts'

export interface ClusterView {
  networks: Map<string, NetworkRecord>
  endpoints: Map<string, EndpointRecord>
  nodes: Map<string, NodeRecord>
  /** networkId -> ip -> endpoint id */
  ipam: Map<string, Map<string, string>>
  invalid: { key: string; error: string }[]
}

/**
 * Parsed keys and records, reused while a key's value is unchanged: a watch snapshot carries
 * the whole tree, but only a few records change between two of them.
 */
export type ParseCache = Map<string, { value: string; parsed: ParsedKey; record: unknown }>

const SCHEMAS = { network: NetworkRecord, endpoint: EndpointRecord, node: NodeRecord } as const

export function clusterView(
  entries: Iterable<{ key: string; value: string }>,
  cache?: ParseCache,
): ClusterView {
  const view: ClusterView = {
    networks: new Map(),
    endpoints: new Map(),
    nodes: new Map(),
    ipam: new Map(),
    invalid: [],
  }
  const seen = cache ? new Set<string>() : undefined
  addEntries(view, entries, cache, seen)
  if (cache && seen) for (const key of cache.keys()) if (!seen.has(key)) cache.delete(key)
  return view
}

/**
 * The view with some entries added or replaced (this agent's own writes), without re-reading
 * the tree. The maps are updated in place and shared; the returned object is new, so whoever
 * compares views by identity sees a change.
 */
export function viewWith(
  view: ClusterView,
  entries: Iterable<{ key: string; value: string }>,
  cache?: ParseCache,
): ClusterView {
  addEntries(view, entries, cache)
  return { ...view }
}

/**
 * The view after a change of the tree: `put` entries added or replaced, `deleted` keys removed,
 * at the cost of the change, not of the tree (a watch event of one network touches a few keys
 * of a tree of thousands). Like viewWith, the maps are updated in place and the returned object
 * is new. `invalid` keeps the records of the whole tree that do not parse; the returned
 * `added` are the ones this change brought.
 */
export function viewApply(
  view: ClusterView,
  put: Iterable<{ key: string; value: string }>,
  deleted: Iterable<string>,
): { view: ClusterView; added: ClusterView['invalid'] } {
  const touched = new Set<string>()
  for (const key of deleted) touched.add(key)
  const puts = [...put]
  for (const { key } of puts) touched.add(key)
  for (const key of touched) removeKey(view, key)
  const invalid = view.invalid.filter((i) => !touched.has(i.key))
  const kept = invalid.length
  const next: ClusterView = { ...view, invalid }
  addEntries(next, puts, undefined)
  return { view: next, added: invalid.slice(kept) }
}

/** Take one key's record out of the view (a deletion, or the old value of a put). */
function removeKey(view: ClusterView, key: string): void {
  const k = parseKey(key)
  switch (k.kind) {
    case 'network':
      view.networks.delete(k.id)
      break
    case 'endpoint':
      // ids are unique: only a record of another network under the same id stays
      if (view.endpoints.get(k.endpointId)?.networkId === k.networkId)
        view.endpoints.delete(k.endpointId)
      break
    case 'node':
      view.nodes.delete(k.name)
      break
    case 'ipam': {
      const m = view.ipam.get(k.networkId)
      m?.delete(k.ip)
      if (m?.size === 0) view.ipam.delete(k.networkId)
      break
    }
  }
}

function addEntries(
  view: ClusterView,
  entries: Iterable<{ key: string; value: string }>,
  cache: ParseCache | undefined,
  seen?: Set<string>,
): void {
  const added: EndpointRecord[] = []
  for (const { key, value } of entries) {
    seen?.add(key)
    let hit = cache?.get(key)
    if (!hit || hit.value !== value) {
      const parsed = parseKey(key)
      let record: unknown = value
      try {
        if (parsed.kind === 'network' || parsed.kind === 'endpoint' || parsed.kind === 'node') {
          record = SCHEMAS[parsed.kind].parse(JSON.parse(value))
        }
      } catch (e) {
        view.invalid.push({ key, error: (e as Error).message.slice(0, 200) })
        cache?.delete(key)
        continue
      }
      hit = { value, parsed, record }
      cache?.set(key, hit)
    }
    const k = hit.parsed
    switch (k.kind) {
      case 'network':
        view.networks.set(k.id, hit.record as NetworkRecord)
        break
      case 'endpoint': {
        const e = hit.record as EndpointRecord
        added.push(e)
        // keyed by the record's own id string: the key's slice would be one more string per endpoint
        view.endpoints.set(e.id === k.endpointId ? e.id : k.endpointId, e)
        break
      }
      case 'node':
        view.nodes.set(k.name, hit.record as NodeRecord)
        break
      case 'ipam': {
        let m = view.ipam.get(k.networkId)
        if (!m) view.ipam.set(k.networkId, (m = new Map()))
        m.set(k.ip, value)
        break
      }
    }
  }
  // after the loop: endpoint keys sort before their networks and nodes, which may come in the same batch
  for (const e of added) shareStrings(view, e)
}

/**
 * An endpoint record's network id and node name as the network's and node's own records hold
 * them: each parsed value has its own copies, and thousands of endpoints share a few networks
 * and nodes (~140 B per endpoint at rest). Equal strings, so nothing reads differently.
 */
function shareStrings(view: ClusterView, e: EndpointRecord): void {
  const net = view.networks.get(e.networkId)
  if (net && net.id === e.networkId) e.networkId = net.id
  if (e.node === undefined) return
  const node = view.nodes.get(e.node)
  if (node && node.name === e.node) e.node = node.name
}

/** What a mirror change carries (structurally: src/mirror/db.ts MirrorChange). */
export interface ViewChange {
  put: readonly { key: string }[]
  deleted: readonly string[]
}

/**
 * Which endpoints changed between two looks at the view, for whoever keeps something derived
 * from this node's endpoints up to date at the cost of the change (a burst of 3,000 connects
 * is thousands of view changes: walking every endpoint per change was quadratic). 'all' when
 * the consumer must look at the whole view: no change given, the view's maps were rebuilt
 * (they are shared and updated in place otherwise, see viewApply), or, with `networks`, a
 * network record changed.
 */
export class EndpointChanges {
  private endpoints: ClusterView['endpoints'] | undefined

  constructor(private readonly o: { networks?: boolean } = {}) {}

  touched(view: ClusterView, change?: ViewChange): Set<string> | 'all' {
    if (!change || view.endpoints !== this.endpoints) {
      this.endpoints = view.endpoints
      return 'all'
    }
    const ids = new Set<string>()
    for (const key of keysOf(change)) {
      const k = parseKey(key)
      if (k.kind === 'endpoint') ids.add(k.endpointId)
      else if (k.kind === 'network' && this.o.networks) return 'all'
    }
    return ids
  }
}

function* keysOf(change: ViewChange): Iterable<string> {
  for (const e of change.put) yield e.key
  yield* change.deleted
}
