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

function addEntries(
  view: ClusterView,
  entries: Iterable<{ key: string; value: string }>,
  cache: ParseCache | undefined,
  seen?: Set<string>,
): void {
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
      case 'endpoint':
        view.endpoints.set(k.endpointId, hit.record as EndpointRecord)
        break
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
}
