// Errors raised by the Consul client. Connection failures use the shared
// StoreUnreachableError (src/errors); HTTP-level failures name the endpoint and status.
import { ConflictError, StoreUnreachableError, WeftError } from '../../errors/index.ts'
import type { TxnOp, TxnOpError } from '../types.ts'

/** The store answered with an unexpected status. `endpoint` is "METHOD /v1/path". */
export class KvHttpError extends WeftError {
  override name = 'KvHttpError'
  constructor(
    readonly endpoint: string,
    readonly status: number,
    readonly body: string,
    hint = '',
  ) {
    const what = body.trim().slice(0, 300) || '(empty body)'
    super(
      status === 403 ? 'store_forbidden' : 'store_http_error',
      `${endpoint} failed: HTTP ${status}: ${what}${hint ? `; ${hint}` : ''}`,
    )
  }
}

/** A /v1/txn was rolled back (409): every failing op with its index and reason. */
export class TxnConflictError extends ConflictError {
  override name = 'TxnConflictError'
  constructor(readonly errors: (TxnOpError & { op?: TxnOp })[]) {
    super(
      `PUT /v1/txn rolled back (HTTP 409): ${errors.map((e) => `op ${e.opIndex}${e.op ? ` (${e.op.verb} ${e.op.key})` : ''}: ${e.what}`).join('; ')}`,
      'txn_conflict',
    )
  }
}

/** One server of the store could not be reached (`why`); the message says what to check. */
export class ServerUnreachableError extends StoreUnreachableError {
  override name = 'ServerUnreachableError'
  constructor(
    readonly server: string,
    readonly what: string,
    readonly why: string,
    options?: { cause?: unknown },
  ) {
    super(
      `cannot reach the cluster store at ${server} (${what}): ${why}; is the store's agent running? check --store`,
      options,
    )
  }
}

/** The store's TLS identity is not the one we were told to trust (wrong CA digest, or a MITM). */
export class StoreIdentityError extends WeftError {
  override name = 'StoreIdentityError'
  constructor(message: string) {
    super('store_identity', message)
  }
}
