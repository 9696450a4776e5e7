// Reads that the agent answered from its local mirror while the cluster store is unreachable
// (networks, inspect, endpoints, nodes) carry a Warning header saying they may be stale; the
// CLI prints it. Writes are refused with 503 meanwhile, so only reads get here with 200.
import type { MiddlewareHandler } from 'hono'
import type { AgentApi } from './deps.ts'

const READS = /^\/v1\/(networks(\/[^/]+)?|endpoints|nodes)$/

export function staleReadWarning(api: Pick<AgentApi, 'health'>): MiddlewareHandler {
  return async (c, next) => {
    await next()
    if (c.req.method !== 'GET' || c.res.status !== 200 || !READS.test(c.req.path)) return
    const { store } = await api.health()
    if (store.reachable) return
    const why = store.lastError
      ? ` (${store.lastError.replace(/["\\\r\n]/g, ' ').slice(0, 300)})`
      : ''
    c.res.headers.set(
      'Warning',
      `299 weft "the cluster store is unreachable${why}: this is this agent's local copy and may be stale"`,
    )
  }
}
