// Turns a flat snapshot of the cluster tree (key -> JSON) into typed records. Records
// that do not parse (written by a newer or broken agent) are skipped and reported, never
// half-used.
import { parseKey } from './keys.ts'
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
 * Parsed records by key, reused while a key's value is unchanged: a watch snapshot carries
 * the whole tree, but only a few records change between two of them.
 */
export type ParseCache = Map<string, { value: string; record: unknown }>

export function clusterView(entries: Iterable<{ key: string; value: string }>, cache?: ParseCache): ClusterView {
  const view: ClusterView = { networks: new Map(), endpoints: new Map(), nodes: new Map(), ipam: new Map(), invalid: [] }
  const seen = cache ? new Set<string>() : undefined
  const parse = <T>(key: string, value: string, schema: { parse(v: unknown): T }): T => {
    seen?.add(key)
    const hit = cache?.get(key)
    if (hit && hit.value === value) return hit.record as T
    const record = schema.parse(JSON.parse(value))
    cache?.set(key, { value, record })
    return record
  }
  for (const { key, value } of entries) {
    const k = parseKey(key)
    try {
      switch (k.kind) {
        case 'network':
          view.networks.set(k.id, parse(key, value, NetworkRecord))
          break
        case 'endpoint':
          view.endpoints.set(k.endpointId, parse(key, value, EndpointRecord))
          break
        case 'node':
          view.nodes.set(k.name, parse(key, value, NodeRecord))
          break
        case 'ipam': {
          let m = view.ipam.get(k.networkId)
          if (!m) view.ipam.set(k.networkId, (m = new Map()))
          m.set(k.ip, value)
          break
        }
      }
    } catch (e) {
      view.invalid.push({ key, error: (e as Error).message.slice(0, 200) })
    }
  }
  if (cache && seen) for (const key of cache.keys()) if (!seen.has(key)) cache.delete(key)
  return view
}
