// Public surface of the kv module: the Consul API client (real Consul or our server) and
// the Consul-compatible server backed by libSQL. Nothing else is imported across modules.
export {
  ConsulClient,
  KvHttpError,
  TxnConflictError,
  entryText,
  sessionTtlMs,
  watchQuery,
  CLIENT_MAX_TXN_OPS,
  assertPortableKey,
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
} from './client/index.ts'
export { createKvServer, serveKv } from './server/index.ts'
export type { KvServer, KvServerOptions, ServeKvOptions, ServedKv } from './server/index.ts'
export type { KvEntry, SessionInfo, SessionBehavior, TxnOp, TxnVerb, TxnOpError } from './types.ts'
export { StoreUnreachableError } from '../errors/index.ts'
