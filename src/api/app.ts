// The admin API as a Hono app (no listening here: see serve.ts; tests use app.request()).
import { OpenAPIHono } from '@hono/zod-openapi'
import { bodyLimit } from 'hono/body-limit'
import { VERSION } from '../embedded/index.ts'
import type { AgentApi } from './deps.ts'
import { apiError, onError } from './errors.ts'
import { networkRoutes } from './routes/networks.ts'
import { systemRoutes } from './routes/system.ts'

export const MAX_BODY_BYTES = 1024 * 1024

export interface AppOptions {
  /** When set, every request must carry `Authorization: Bearer <token>` (TCP listener). */
  token?: string
}

export function createApp(api: AgentApi, opts: AppOptions = {}) {
  const app = new OpenAPIHono({
    // zod validation failures become our JSON error shape with a readable message
    defaultHook: (result, c) => {
      if (result.success) return
      const issues = result.error.issues
        .map((i) => `${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`)
        .join('; ')
      return apiError(c, 400, 'invalid_input', `invalid request: ${issues}`)
    },
  })
  app.onError(onError)
  app.notFound((c) => apiError(c, 404, 'not_found', `no route ${c.req.method} ${c.req.path}: see /openapi.json`))

  if (opts.token) {
    const expected = `Bearer ${opts.token}`
    app.use('*', async (c, next) => {
      const got = c.req.header('authorization')
      if (!got) return apiError(c, 401, 'unauthorized', 'missing bearer token: set WEFT_TOKEN')
      if (!timingSafeEqual(got, expected)) return apiError(c, 403, 'forbidden', 'wrong bearer token: check WEFT_TOKEN')
      await next()
    })
  }
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => apiError(c, 413, 'body_too_large', `request body over ${MAX_BODY_BYTES} bytes`),
    }),
  )
  // malformed JSON must say so (zod's hook would only see "expected object")
  app.use('/v1/*', async (c, next) => {
    if (c.req.method === 'POST' || c.req.method === 'PUT') {
      const text = await c.req.raw.clone().text()
      try {
        JSON.parse(text)
      } catch (e) {
        return apiError(c, 400, 'malformed_json', `request body is not valid JSON: ${(e as Error).message}`)
      }
    }
    await next()
  })

  networkRoutes(app, api)
  systemRoutes(app, api)

  app.doc('/openapi.json', {
    openapi: '3.0.3',
    info: { title: 'weft admin API', version: VERSION, description: 'Overlay networks, endpoints, nodes, stats' },
  })
  return app
}

function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}
