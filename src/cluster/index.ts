// The cluster model: key layout, records, address rules, and snapshot views.
export { ROOT, keys, parseKey } from './keys.ts'
export type { ParsedKey } from './keys.ts'
export { NetworkRecord, EndpointRecord, NodeRecord, PublishedPortRecord } from './records.ts'
export {
  FIRST_VNI,
  defaultGateway,
  nextFreeAddress,
  subnetsOverlap,
  nextDefaultSubnet,
  nextFreeVni,
} from './ipam.ts'
export { clusterView, viewWith, EndpointChanges } from './view.ts'
export type { ClusterView, ParseCache, ViewChange } from './view.ts'
export { ClusterOps, newId } from './operations.ts'
export type { StoreReader, CreateNetworkInput, ConnectInput, SandboxFacts } from './operations.ts'
export { unusableSubnetReason, unusableVtepReason } from './usable.ts'
