// Error classes shared by every module: each has a stable `code`, a message that
// says what failed and what to do, and an optional `cause`. The admin API maps
// them to HTTP statuses in one place (api/errors.ts).

export class WeftError extends Error {
  override name = 'WeftError'
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }
}

/** Bad input from a user or a peer: nothing was changed. HTTP 400. */
export class ValidationError extends WeftError {
  override name = 'ValidationError'
  constructor(message: string, code = 'invalid_input') {
    super(code, message)
  }
}

/** A named thing does not exist. HTTP 404. */
export class NotFoundError extends WeftError {
  override name = 'NotFoundError'
  constructor(message: string, code = 'not_found') {
    super(code, message)
  }
}

/** A unique name/VNI/address/subnet is taken, or a CAS lost. HTTP 409. */
export class ConflictError extends WeftError {
  override name = 'ConflictError'
  constructor(message: string, code = 'conflict') {
    super(code, message)
  }
}

/** The cluster store (Consul API) cannot be reached. HTTP 503. */
export class StoreUnreachableError extends WeftError {
  override name = 'StoreUnreachableError'
  constructor(message: string, options?: { cause?: unknown; code?: string }) {
    super(options?.code ?? 'store_unreachable', message, options)
  }
}

/**
 * A write was sent but the store did not answer: it may or may not have been applied.
 * Whoever sent it must find out (read it back) or converge (undo it). HTTP 503.
 */
export class OutcomeUnknownError extends StoreUnreachableError {
  override name = 'OutcomeUnknownError'
  constructor(
    message: string,
    options?: { cause?: unknown },
    /** What the write would have made (e.g. the endpoint record), so the caller can check or undo it. */
    readonly attempted?: unknown,
  ) {
    super(message, { ...options, code: 'outcome_unknown' })
  }
}

/**
 * The agent could not program an endpoint on this host (veth, addresses, datapath): a
 * server fault, not bad input. HTTP 500. The message carries this endpoint's own error only.
 */
export class AttachFailedError extends WeftError {
  override name = 'AttachFailedError'
  readonly status = 500
  constructor(message: string, options?: { cause?: unknown }) {
    super('attach_failed', message, options)
  }
}

/** The kernel lacks a feature; says which version brings it. */
export class NotSupportedError extends WeftError {
  override name = 'NotSupportedError'
  constructor(feature: string, minimumKernel: string) {
    super('not_supported', `${feature} not supported (requires Linux >= ${minimumKernel})`)
  }
}
