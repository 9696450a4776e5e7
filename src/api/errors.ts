// The single mapping from errors to HTTP responses: JSON { error: code, message: text }.
// Every answer that is not a success goes through here (Hono's onError and notFound, the
// listener's parse errors), so no status ever comes back without this body. 5xx answers
// are logged with their cause; their message keeps the real cause, in our words.
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import {
  ConflictError,
  NotFoundError,
  StoreUnreachableError,
  ValidationError,
  WeftError,
} from '../errors/index.ts'
import { KvHttpError } from '../kv/index.ts'
import type { Logger } from '../log.ts'
import { ownWords } from './client-wording.ts'
import { diskFull } from './disk-full.ts'
import type { DiskFullWatch } from './disk-watch.ts'
import { MAX_RECORD_BYTES, TooLargeForStoreError } from './store-limits.ts'

export interface ErrorBody {
  error: string
  message: string
}

export interface ErrorAnswer {
  status: ContentfulStatusCode
  body: ErrorBody
}

/** 507 Insufficient Storage: the write could not be stored; freeing space fixes it. */
const DISK_FULL = 507

/** Hono's own exceptions (validator, body parsing) in our codes and words. */
function fromHttpException(e: HTTPException): ErrorAnswer {
  const status = e.status as ContentfulStatusCode
  if (status === 415) {
    return {
      status,
      body: {
        error: 'unsupported_media_type',
        message: 'request body must be JSON: send Content-Type: application/json',
      },
    }
  }
  const code = status === 400 ? 'bad_request' : status === 413 ? 'body_too_large' : `http_${status}`
  return { status, body: { error: code, message: ownWords(e.message || `HTTP ${status}`, e) } }
}

/** Status, code and message for any error a handler threw. */
export function errorAnswer(e: unknown): ErrorAnswer {
  const full = diskFull(e)
  if (full) {
    const cause = ownWords(e instanceof Error ? e.message : String(e), e)
    const where =
      full === 'store'
        ? "the cluster store's disk is full: free space in the data directory of the agent that serves the store (or of Consul)"
        : "this agent's disk is full: free space in its --data directory"
    return {
      status: DISK_FULL,
      body: { error: 'disk_full', message: `${where}, then retry (${cause})` },
    }
  }
  if (e instanceof TooLargeForStoreError)
    return { status: 413, body: { error: e.code, message: e.message } }
  if (e instanceof KvHttpError && e.status === 413) {
    // our estimate let it through but the store refused it: still the caller's, still 413
    return {
      status: 413,
      body: {
        error: 'too_large_for_store',
        message: `the cluster store refused the write as too large (records up to about ${MAX_RECORD_BYTES} bytes fit): shorten labels, options or names; nothing was changed`,
      },
    }
  }
  if (e instanceof HTTPException) return fromHttpException(e)
  const status: ContentfulStatusCode =
    e instanceof ValidationError
      ? 400
      : e instanceof NotFoundError
        ? 404
        : e instanceof ConflictError
          ? 409
          : e instanceof StoreUnreachableError
            ? 503
            : 500
  const code = e instanceof WeftError ? e.code : 'internal'
  const message = ownWords(e instanceof Error ? e.message : String(e), e)
  return { status, body: { error: code, message } }
}

export function statusOf(e: unknown): ContentfulStatusCode {
  return errorAnswer(e).status
}

export function errorBody(e: unknown): ErrorBody {
  return errorAnswer(e).body
}

/**
 * Hono onError: answers with errorAnswer, logs every 5xx with the error and the request, and
 * tells `disk` about a disk_full so /healthz reports it.
 */
export function createOnError(log: Logger, disk?: DiskFullWatch) {
  return (e: Error, c: Context) => {
    const { status, body } = errorAnswer(e)
    if (status === DISK_FULL) disk?.saw(body.message)
    if (status >= 500)
      log.error(
        { err: e, status, code: body.error, method: c.req.method, path: c.req.path },
        `admin API ${status}: ${body.message}`,
      )
    return c.json(body, status)
  }
}

export const apiError = (
  c: Context,
  status: ContentfulStatusCode,
  error: string,
  message: string,
) => c.json({ error, message } satisfies ErrorBody, status)
