// Every network's subnet in the cluster (by VNI), derived once per set of network records: a
// pass runs for every watch answer, and at 2,000 networks deriving (and sorting) them again
// each time was most of a pass that programs one remote endpoint. The list is the same array
// while no network record changed, so the reconciler also fingerprints it once (identity).
import type { NetworkRecord } from '../cluster/index.ts'
import type { ClusterSubnetSpec } from '../datapath/types.ts'

interface Derived {
  /** The records it was derived from, in the map's order (records are new objects when they change). */
  records: NetworkRecord[]
  subnets: ClusterSubnetSpec[]
}

/** By networks map: the view keeps one map and changes it in place, so the records tell whether it changed. */
const derived = new WeakMap<ReadonlyMap<string, NetworkRecord>, Derived>()

export function clusterSubnets(networks: ReadonlyMap<string, NetworkRecord>): ClusterSubnetSpec[] {
  const had = derived.get(networks)
  if (had && sameRecords(had.records, networks)) return had.subnets
  const records = [...networks.values()]
  const subnets = records
    .map((n) => ({ vni: n.vni, subnet: n.subnet, internal: !!n.internal }))
    .sort((a, b) => a.vni - b.vni)
  derived.set(networks, { records, subnets })
  return subnets
}

/** Whether the map holds exactly these records in this order (identity: no parse, no copy). */
function sameRecords(
  records: NetworkRecord[],
  networks: ReadonlyMap<string, NetworkRecord>,
): boolean {
  if (records.length !== networks.size) return false
  let i = 0
  for (const n of networks.values()) if (n !== records[i++]) return false
  return true
}
