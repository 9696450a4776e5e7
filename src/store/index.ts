// The cluster store: the interface the agent, the cluster operations and the mirror use,
// and its implementations (one folder each; Consul today).
export type {
  ClusterStore,
  StoreEntry,
  StoreOp,
  TxnOutcome,
  WatchEvent,
  WatchHandlers,
  StoreWatch,
  StoreLeases,
  KeepAlive,
} from './types.ts'
export { ConsulStore, toConsulOp } from './consul/index.ts'
export type { ConsulStoreOptions } from './consul/index.ts'
export { observeWrites, withTxn } from './observe.ts'
export { StoreStatus } from './status.ts'
