// The way out of weft networks and the way in (issue 15): host-side NAT, forwarding, routes and
// published ports. The BPF half is bpf/lib/way_out.h and bpf/lib/gateway.h.
export { HostEgress, assertHostAddresses } from './egress.ts'
export type { ClusterSubnet, EgressKernel } from './egress.ts'
export { renderTable, parsePubComment, publishedFromJson, TABLE, NftError } from './nft.ts'
export type { Publication, PublishedCounters, TableState } from './nft.ts'
export { parsePublish, checkPublished, duplicatePort, formatPublished, portKey } from './ports.ts'
export type { PublishedPort, PortProto } from './ports.ts'
export { defaultRouteMetric } from './routes.ts'
export { defaultRouteMessage, hostRouteMessage, permanentNeighbourMessage } from './route-messages.ts'
export type { WayOutPlumbing } from './routes.ts'
