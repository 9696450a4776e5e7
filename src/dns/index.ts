// Names: every endpoint resolvable by name (and alias) inside its networks, answered on the
// host that serves the querying sandbox from the cluster view it mirrors; everything else
// forwarded to the host's resolvers. The agent starts one service with its view and calls
// sync() when the view changes.
export { startNames, ANSWER_TTL_S } from './service.ts'
export type { Names, NamesOptions, NamesStats } from './service.ts'
export { LISTEN_ADDRESS, DNS_PORT } from './listener.ts'
export { endpointNames } from './table.ts'
export { parseResolvConf } from './upstream.ts'
export { removeNodeResolvConfs } from './netns-resolv-conf.ts'
export { ListenError, UpstreamError } from './errors.ts'
// the codec is public for tests, benches and a future `weft doctor --to NAME`
export {
  TYPE,
  RCODE,
  RCODE_NAME,
  encodeQuery,
  parseAnswer,
  parseQuery,
  encodeAnswer,
} from './codec.ts'
export type { ParsedAnswer, Question, Query, Answer } from './codec.ts'
