// Where the peers without a node record are, as this host's datapath still programs them
// (pure): each remote endpoint in the maps, matched to its endpoint record, names its node and
// VTEP. Read once at agent start so a restart while a peer's agent is down keeps that peer.
import type { ClusterView } from '../cluster/index.ts'
import type { RemoteEndpointSpec } from '../datapath/types.ts'

export function seedsFromDatapath(
  view: ClusterView,
  programmed: RemoteEndpointSpec[],
  me: string,
): Map<string, string> {
  const netOfVni = new Map([...view.networks.values()].map((n) => [n.vni, n.id]))
  const owner = new Map<string, string>()
  for (const e of view.endpoints.values())
    if (e.node && !e.external) owner.set(`${e.networkId}/${e.ip}`, e.node)
  const out = new Map<string, string>()
  for (const r of programmed) {
    const node = owner.get(`${netOfVni.get(r.vni)}/${r.ip}`)
    if (node && node !== me && !view.nodes.has(node)) out.set(node, r.vtep)
  }
  return out
}
