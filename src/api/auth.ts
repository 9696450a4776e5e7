// Bearer-token auth for the TCP admin API. The scheme is matched case-insensitively (RFC 9110
// §11.1); tokens are compared as SHA-256 digests with timingSafeEqual, so neither the content
// nor the length of the expected token shows in the time an answer takes.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { MiddlewareHandler } from 'hono'
import { ValidationError } from '../errors/index.ts'
import { apiError } from './errors.ts'

/** Shorter tokens can be guessed by an underlay neighbour; 16 chars of hex is 64 bits. */
export const MIN_TOKEN_LENGTH = 16

const HOW_TO_MAKE = 'make one with `openssl rand -hex 32`'

/** Why a token cannot guard the TCP admin API, or undefined when it can. */
export function apiTokenProblem(token: string | undefined): string | undefined {
  if (!token)
    return `--api-tcp needs a bearer token: pass --token or set WEFT_TOKEN; ${HOW_TO_MAKE}`
  if (token.length < MIN_TOKEN_LENGTH) {
    return `the API token is ${token.length} characters; it needs at least ${MIN_TOKEN_LENGTH}: ${HOW_TO_MAKE}`
  }
  if (/\s/.test(token))
    return `the API token contains whitespace, which no Authorization header can carry: ${HOW_TO_MAKE}`
  return undefined
}

/** Throws ValidationError when the token cannot guard the TCP admin API. */
export function assertApiToken(token: string | undefined): asserts token is string {
  const problem = apiTokenProblem(token)
  if (problem) throw new ValidationError(problem)
}

/** A fresh token (64 hex characters, 256 bits), as `openssl rand -hex 32` makes. */
export const newApiToken = () => randomBytes(32).toString('hex')

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest()

/**
 * A check against `expected` whose time depends on neither its content nor its length: the
 * expected digest is made once, each call hashes only what the caller sent (their own
 * length), and compares two 32-byte digests in constant time.
 */
export function tokenMatcher(expected: string): (given: string) => boolean {
  const want = digest(expected)
  return (given) => timingSafeEqual(digest(given), want)
}

/** `Authorization: <scheme> <credentials>`, scheme any case, one or more spaces between. */
export function bearerCredentials(header: string): string | undefined {
  const m = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*) +(\S+) *$/.exec(header)
  if (!m || m[1]!.toLowerCase() !== 'bearer') return undefined
  return m[2]
}

/** Middleware: every request must carry `Authorization: Bearer <token>`. */
export function bearerAuth(token: string): MiddlewareHandler {
  assertApiToken(token)
  const matches = tokenMatcher(token)
  return async (c, next) => {
    const got = c.req.header('authorization')
    if (!got) return apiError(c, 401, 'unauthorized', 'missing bearer token: set WEFT_TOKEN')
    const creds = bearerCredentials(got)
    if (creds === undefined) {
      return apiError(
        c,
        401,
        'unauthorized',
        'the Authorization header must be "Bearer <token>": set WEFT_TOKEN',
      )
    }
    if (!matches(creds))
      return apiError(c, 403, 'forbidden', 'wrong bearer token: check WEFT_TOKEN')
    await next()
  }
}
