// weft's delta extension of a recursive KV listing (issue 17), shared by the embedded server
// and the client. A blocking `GET /v1/kv/<prefix>?recurse&index=N&weft-since=S` that weft's
// own store can answer as a delta carries the header `X-Weft-Delta: S` and the body
// `{"Entries":[…entries modified after S…],"Deleted":[…keys deleted after S…]}`; without the
// header the body is the usual full array. A real Consul ignores the unknown parameter (it
// parses only the ones it knows) and never sends the header, so a client falls back to the full
// list by itself; so does weft's store when its tombstones no longer reach back to S.
import type { WireEntry } from './types.ts'

/** The query parameter naming the index the client's copy of the prefix is at. */
export const SINCE_PARAM = 'weft-since'
/** The response header marking a delta answer; its value repeats the `since` it answers. */
export const DELTA_HEADER = 'X-Weft-Delta'

export interface WireDelta {
  Entries: WireEntry[]
  Deleted: string[]
}
