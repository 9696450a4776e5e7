// The single mapping from errors to HTTP responses: JSON { error: code, message: text }.
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import {
  ConflictError, NotFoundError, StoreUnreachableError, ValidationError, WeftError,
} from '../errors/index.ts'

export interface ErrorBody {
  error: string
  message: string
}

export function statusOf(e: unknown): ContentfulStatusCode {
  if (e instanceof ValidationError) return 400
  if (e instanceof NotFoundError) return 404
  if (e instanceof ConflictError) return 409
  if (e instanceof StoreUnreachableError) return 503
  if (e instanceof HTTPException) return e.status as ContentfulStatusCode
  return 500
}

export function errorBody(e: unknown): ErrorBody {
  if (e instanceof WeftError) return { error: e.code, message: e.message }
  if (e instanceof HTTPException) return { error: `http_${e.status}`, message: e.message }
  return { error: 'internal', message: e instanceof Error ? e.message : String(e) }
}

export function onError(e: Error, c: Context) {
  return c.json(errorBody(e), statusOf(e))
}

export const apiError = (c: Context, status: ContentfulStatusCode, error: string, message: string) =>
  c.json({ error, message } satisfies ErrorBody, status)
