// /v1/status/leader, /v1/status/peers and a minimal /v1/agent/self.
import type { Hono } from 'hono'
import { commonChecks, jsonResponse, methodGuard, type BunEnv, type ServerCtx } from './http.ts'

/** The Consul API level this server emulates (what /v1/agent/self reports as Config.Version). */
export const EMULATED_CONSUL_VERSION = '1.22.0'

export function registerStatusRoutes(app: Hono<{ Bindings: BunEnv }>, ctx: ServerCtx): void {
  app.all(
    '/v1/status/leader',
    (c) => methodGuard(c, ['GET']) ?? jsonResponse(c, 200, ctx.opts.advertise),
  )
  app.all(
    '/v1/status/peers',
    (c) => methodGuard(c, ['GET']) ?? jsonResponse(c, 200, [ctx.opts.advertise]),
  )
  app.all('/v1/agent/self', (c) => {
    const bad = methodGuard(c, ['GET'])
    if (bad) return bad
    commonChecks(c, ctx)
    const { opts } = ctx
    const [host, port] = splitHostPort(opts.advertise)
    return jsonResponse(c, 200, {
      Config: {
        Datacenter: opts.datacenter,
        PrimaryDatacenter: opts.datacenter,
        NodeName: opts.nodeName,
        NodeID: opts.nodeId,
        Server: true,
        Revision: 'weft',
        Version: EMULATED_CONSUL_VERSION,
      },
      Member: {
        Name: opts.nodeName,
        Addr: host,
        Port: port,
        Tags: { dc: opts.datacenter, role: 'consul', weft: '1' },
        Status: 1,
      },
      Meta: { weft: 'embedded-kv' },
    })
  })
}

function splitHostPort(a: string): [string, number] {
  const i = a.lastIndexOf(':')
  if (i < 0) return [a, 0]
  return [a.slice(0, i).replace(/^\[|\]$/g, ''), Number(a.slice(i + 1)) || 0]
}
