// What the cluster store accepts, checked before anything is written: a request under the
// API's own 1 MiB limit can still make a record the store refuses, and that is the caller's
// 413, not a server fault. Limits are the smaller of Consul's defaults and our embedded
// server's (src/kv/server/index.ts), so a request that passes here fits both.
import { CLIENT_MAX_TXN_OPS } from '../kv/index.ts'
import { WeftError } from '../errors/index.ts'

export const STORE_LIMITS = Object.freeze({
  /** Consul kv_max_value_size and our server's maxValueBytes: 512 KiB per value. */
  valueBytes: 512 * 1024,
  /** Consul txn_max_req_len and our server's maxTxnBytes: 512 KiB per /v1/txn body. */
  txnBodyBytes: 512 * 1024,
  /** Ops per txn the client sends (Consul < 1.14 takes 64; our server 128). */
  txnOps: CLIENT_MAX_TXN_OPS,
})

/** A write's other ops and keys (name, VNI, sequence, IPAM entries: a few hundred bytes each). */
const TXN_OVERHEAD_BYTES = 8 * 1024
/** Fields the agent adds to what the caller sent: id (64 hex), created, vni, mtu, node, mac. */
const RECORD_ADDED_BYTES = 1024

/**
 * The largest record (its JSON, in bytes) one transaction can carry: /v1/txn sends values
 * base64-encoded, so 3 bytes of record take 4 of the txn body.
 */
export const MAX_RECORD_BYTES = Math.min(
  STORE_LIMITS.valueBytes,
  Math.floor((STORE_LIMITS.txnBodyBytes - TXN_OVERHEAD_BYTES) / 4) * 3,
)

/** The request would make a record the cluster store refuses. HTTP 413; nothing written. */
export class TooLargeForStoreError extends WeftError {
  override name = 'TooLargeForStoreError'
  constructor(message: string) {
    super('too_large_for_store', message)
  }
}

/**
 * Throws TooLargeForStoreError when the record made from `input` (what the caller sent) will
 * not fit in one store transaction. `what` names the record ("network", "endpoint") and
 * `fix` says what to shorten.
 */
export function assertFitsStore(what: string, input: unknown, fix: string): void {
  const bytes = Buffer.byteLength(JSON.stringify(input) ?? '', 'utf8') + RECORD_ADDED_BYTES
  if (bytes <= MAX_RECORD_BYTES) return
  throw new TooLargeForStoreError(
    `the ${what} record would take ${bytes} bytes; the cluster store takes at most ${MAX_RECORD_BYTES} ` +
      `(512 KiB per transaction, values base64-encoded): ${fix}; nothing was changed`,
  )
}
