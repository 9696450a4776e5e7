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

export function clusterView(entries: Iterable<{ key: string; value: string }>): ClusterView {
  const view: ClusterView = { networks: new Map(), endpoints: new Map(), nodes: new Map(), ipam: new Map(), invalid: [] }
  for (const { key, value } of entries) {
    const k = parseKey(key)
    try {
      switch (k.kind) {
        case 'network':
          view.networks.set(k.id, NetworkRecord.parse(JSON.parse(value)))
          break
        case 'endpoint':
          view.endpoints.set(k.endpointId, EndpointRecord.parse(JSON.parse(value)))
          break
        case 'node':
          view.nodes.set(k.name, NodeRecord.parse(JSON.parse(value)))
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
  return view
}
