// The store's one access check: with a token configured, every request (KV, txn, session,
// status, agent, unknown paths) must carry it, before any route sees it. There is no anonymous
// identity, so a stranger learns nothing, not even which keys exist or who the leader is.
// Consul's three spellings are accepted: X-Consul-Token, ?token=, Authorization: Bearer.
import { createHash, timingSafeEqual } from 'node:crypto'
import { requestUrl, textResponse } from './http.ts'

/**
 * The check as a plain function of the request, run before the routes (index.ts) and not as
 * Hono middleware: a middleware stays suspended in `await next()` for as long as the route
 * runs, and a parked long poll runs for minutes (~300 of them at 1,000 endpoints).
 * Returns the refusal, or undefined when the request may go on.
 */
export function tokenCheck(token: string): (req: Request) => Response | undefined {
  const want = digest(token)
  return (req) => {
    const got = presentedToken(req)
    if (!got) {
      return textResponse(
        403,
        'Permission denied: this store needs the cluster token (X-Consul-Token, ?token= or Authorization: Bearer); see the join token of the first agent',
      )
    }
    // Compare fixed-length digests: the time taken says nothing about the token's length or prefix.
    if (!timingSafeEqual(digest(got), want)) return textResponse(403, 'ACL not found')
    return undefined
  }
}

function presentedToken(req: Request): string {
  const h = req.headers
  const fromQuery = requestUrl(req).searchParams.get('token')
  if (fromQuery) return fromQuery
  const header = h.get('x-consul-token')
  if (header) return header
  const m = /^bearer\s+(\S+)\s*$/i.exec(h.get('authorization') ?? '')
  return m ? m[1]! : ''
}

const digest = (s: string) => createHash('sha256').update(s).digest()
