// /v1/session/{create,destroy/<id>,renew/<id>,info/<id>,node/<node>,list}.
import type { Hono } from 'hono'
import { parseJson } from '../json.ts'
import { sessionToWire, type SessionInfo } from '../types.ts'
import { blockingQuery } from './blocking.ts'
import {
  HttpError,
  blockingParams,
  commonChecks,
  field,
  jsonResponse,
  methodGuard,
  pathTail,
  queryMeta,
  readBody,
  textResponse,
  type BunEnv,
  type Ctx,
  type ServerCtx,
} from './http.ts'
import { SessionRequestError } from './sessions.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function sessionId(c: Ctx, prefix: string): string {
  const id = pathTail(c, prefix)
  if (id === '') throw new HttpError(400, 'Missing session')
  return id
}

export function registerSessionRoutes(app: Hono<{ Bindings: BunEnv }>, ctx: ServerCtx): void {
  app.all('/v1/session/create', async (c) => {
    const bad = methodGuard(c, ['PUT'])
    if (bad) return bad
    commonChecks(c, ctx)
    const body = await readBody(c, 64 * 1024, 'session create')
    let input: Record<string, unknown> = {}
    if (body.length > 0) {
      let parsed: unknown
      try {
        parsed = parseJson(new TextDecoder().decode(body))
      } catch (e) {
        throw new HttpError(400, `Request decode failed: ${(e as Error).message}`)
      }
      if (parsed !== null && (typeof parsed !== 'object' || Array.isArray(parsed)))
        throw new HttpError(400, 'Request decode failed: body must be a JSON object')
      input = (parsed ?? {}) as Record<string, unknown>
    }
    try {
      const id = await ctx.sessions.create({
        name: field(input, 'Name'),
        node: field(input, 'Node'),
        lockDelay: field(input, 'LockDelay'),
        behavior: field(input, 'Behavior'),
        ttl: field(input, 'TTL'),
        checks: field(input, 'Checks'),
        nodeChecks: field(input, 'NodeChecks'),
        serviceChecks: field(input, 'ServiceChecks'),
      })
      return jsonResponse(c, 200, { ID: id })
    } catch (e) {
      if (e instanceof SessionRequestError) return textResponse(500, e.message)
      throw e
    }
  })

  app.all('/v1/session/destroy/*', async (c) => {
    const bad = methodGuard(c, ['PUT'])
    if (bad) return bad
    commonChecks(c, ctx)
    const id = sessionId(c, '/v1/session/destroy/')
    if (!UUID.test(id)) return textResponse(500, `Invalid session ID '${id}': must be a UUID`)
    await ctx.sessions.destroy(id)
    return jsonResponse(c, 200, true)
  })

  app.all('/v1/session/renew/*', async (c) => {
    const bad = methodGuard(c, ['PUT'])
    if (bad) return bad
    commonChecks(c, ctx)
    const id = sessionId(c, '/v1/session/renew/')
    const s = ctx.sessions.renew(id)
    if (!s) return textResponse(404, `Session id '${id}' not found`)
    return jsonResponse(c, 200, [sessionToWire(s)])
  })

  const listRoute = (path: string, select: (c: Ctx) => (s: SessionInfo) => boolean) =>
    app.all(path, async (c) => {
      const bad = methodGuard(c, ['GET'])
      if (bad) return bad
      const mode = commonChecks(c, ctx)
      const pick = select(c)
      const b = blockingParams(c, ctx)
      return blockingQuery(c, ctx, b, {
        matches: (e) => e.sessions,
        run: () => {
          const list = [...ctx.engine.sessions.values()].filter(pick)
          list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
          return { index: ctx.engine.sessionsIndex, list }
        },
        answer: (r) => jsonResponse(c, 200, r.list.map(sessionToWire), queryMeta(r.index, mode)),
      })
    })

  listRoute('/v1/session/info/*', (c) => {
    const id = sessionId(c, '/v1/session/info/')
    return (s) => s.id === id
  })
  listRoute('/v1/session/node/*', (c) => {
    const node = pathTail(c, '/v1/session/node/')
    if (node === '') throw new HttpError(400, 'Missing node name')
    return (s) => s.node === node
  })
  listRoute('/v1/session/list', () => () => true)
}
