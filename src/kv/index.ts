// Public surface of the kv module: the Consul API client (real Consul or our server), the
// Consul-compatible server backed by libSQL, and the cluster secret that secures the embedded
// store (join token, CA, TLS). Nothing else is imported across modules.
export {
  ConsulClient,
  KvHttpError,
  TxnConflictError,
  entryText,
  sessionTtlMs,
  watchQuery,
  CLIENT_MAX_TXN_OPS,
  assertPortableKey,
  StoreIdentityError,
} from './client/index.ts'
export type {
  AgentSelf,
  TransportOptions,
  QueryOptions,
  QueryResult,
  PutOptions,
  DeleteOptions,
  CreateSessionOptions,
  Watch,
  WatchOptions,
  PrefixSnapshot,
  BackoffOptions,
  RateLimit,
  StoreTlsOptions,
} from './client/index.ts'
export { createKvServer, serveKv } from './server/index.ts'
export type { KvServer, KvServerOptions, ServeKvOptions, ServedKv } from './server/index.ts'
export {
  ensureClusterSecret,
  clientOptionsFromJoinToken,
  resolveJoinToken,
  saveJoinToken,
  joinTokenPath,
  caPath,
} from './secure/cluster-secret.ts'
export type { ClusterSecret, StoreClientOptions } from './secure/cluster-secret.ts'
export { serveEmbeddedStore, remoteStoreOptions } from './secure/store-access.ts'
export { serveEmbeddedStoreInThread } from './secure/store-thread.ts'
export type { ThreadedEmbeddedStore } from './secure/store-thread.ts'
export type {
  EmbeddedStore,
  EmbeddedStoreOptions,
  RemoteStoreInput,
} from './secure/store-access.ts'
export { parseJoinToken } from './secure/join-token.ts'
export type { KvEntry, SessionInfo, SessionBehavior, TxnOp, TxnVerb, TxnOpError } from './types.ts'
export { StoreUnreachableError } from '../errors/index.ts'
