// The client side of weft's delta listing (../delta-wire.ts): a recursive list read that asks
// for the changes since the index its copy is at, and reads the answer as a delta when the
// server marked it so, else as the full list (a real Consul, or a store whose tombstones no
// longer reach back that far).
import { DELTA_HEADER, type WireDelta } from '../delta-wire.ts'
import type { KvEntry, WireEntry } from '../types.ts'
import { KvHttpError } from './errors.ts'
import type { RawResponse } from './http.ts'

/** A prefix's state as a list read brought it: all of it, or what changed since the index asked about. */
export type PrefixChanges =
  | { kind: 'full'; entries: KvEntry[] }
  | { kind: 'delta'; since: bigint; put: KvEntry[]; deleted: string[] }

/** Whether the server answered `since` with a delta (it repeats the index in the header). */
export function isDelta(r: RawResponse, since: bigint | undefined): boolean {
  return since !== undefined && r.status === 200 && r.headers.get(DELTA_HEADER) === since.toString()
}

/** A delta answer's body, checked for shape (a server that sends the header must send this). */
export function parseDelta(
  v: unknown,
  r: RawResponse,
  entryFromWire: (w: WireEntry) => KvEntry,
): { put: KvEntry[]; deleted: string[] } {
  const d = v as Partial<WireDelta> | null
  if (
    typeof d !== 'object' ||
    d === null ||
    !Array.isArray(d.Entries) ||
    !Array.isArray(d.Deleted) ||
    !d.Deleted.every((k) => typeof k === 'string')
  )
    throw new KvHttpError(
      r.endpoint,
      r.status,
      `a delta answer (${DELTA_HEADER}) must be {"Entries":[…],"Deleted":[…]}`,
    )
  return { put: d.Entries.map(entryFromWire), deleted: d.Deleted }
}
