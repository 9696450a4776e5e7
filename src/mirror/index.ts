// The agent's mirror of the cluster tree: the libSQL mirror db (tree copy + host-local
// facts), the cluster mirror (typed view, own writes, waitFor) and the watches that feed it:
// the whole tree (followStore), or only what this host serves (ScopedFollower).
export { MirrorDb } from './db.ts'
export type { MirrorEntry, MirrorChange, LocalEndpointFact, LocalEndpointStatus } from './db.ts'
export { ClusterMirror } from './cluster-mirror.ts'
export type { ClusterMirrorOptions } from './cluster-mirror.ts'
export { followStore } from './follow.ts'
export { ScopedFollower, localNetworks, inScope } from './scoped-follow.ts'
export type { ScopedFollowOptions } from './scoped-follow.ts'
export { scopedReader } from './scoped-reader.ts'
