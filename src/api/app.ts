// The admin API as a Hono app (no listening here: see serve.ts; tests use app.request()).
import { OpenAPIHono } from '@hono/zod-openapi'
import { bodyLimit } from 'hono/body-limit'
import { VERSION } from '../embedded/index.ts'
import { createLogger, type Logger } from '../log.ts'
import { bearerAuth } from './auth.ts'
import type { AgentApi } from './deps.ts'
import { DiskFullWatch } from './disk-watch.ts'
import { apiError, createOnError } from './errors.ts'
import { notFoundHandler } from './not-found.ts'
import { doctorRoutes } from './routes/doctor.ts'
import { staleReadWarning } from './stale-reads.ts'
import { networkRoutes } from './routes/networks.ts'
import { systemRoutes } from './routes/system.ts'

export const MAX_BODY_BYTES = 1024 * 1024
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i

export interface AppOptions {
  /** When set, every request must carry `Authorization: Bearer <token>` (TCP listener). */
  token?: string
  /** Where 5xx answers are logged with their cause (default: a logger on stderr). */
  log?: Logger
  /** Shared by every listener of one agent: a disk_full answer shows in /healthz until a write succeeds. */
  disk?: DiskFullWatch
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
  const disk = opts.disk ?? new DiskFullWatch()
  app.onError(createOnError(opts.log ?? createLogger({ name: api.node }), disk))
  app.notFound(notFoundHandler(app))

  if (opts.token !== undefined) app.use('*', bearerAuth(opts.token))
  app.use('/v1/*', async (c, next) => {
    await next()
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD' && c.res.status < 300) disk.cleared()
  })
  app.use(
    '/v1/*',
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) =>
        apiError(c, 413, 'body_too_large', `request body over ${MAX_BODY_BYTES} bytes`),
    }),
  )
  // malformed JSON must say so (zod's hook would only see "expected object"); a body that
  // does not claim to be JSON is the validator's 415
  app.use('/v1/*', async (c, next) => {
    if (
      (c.req.method === 'POST' || c.req.method === 'PUT') &&
      JSON_TYPE.test(c.req.header('content-type') ?? '')
    ) {
      // Hono keeps the text: the validator's c.req.json() parses it without reading the body
      // again (a clone of the request and a second stream read per call, before)
      const text = await c.req.text()
      try {
        JSON.parse(text)
      } catch (e) {
        return apiError(
          c,
          400,
          'malformed_json',
          `request body is not valid JSON: ${(e as Error).message}`,
        )
      }
    }
    await next()
  })

  app.use('/v1/*', staleReadWarning(api))
  networkRoutes(app, api)
  systemRoutes(app, api, disk)
  doctorRoutes(app, api)

  app.doc('/openapi.json', {
    openapi: '3.0.3',
    info: {
      title: 'weft admin API',
      version: VERSION,
      description: 'Overlay networks, endpoints, nodes, stats',
    },
  })
  return app
}
