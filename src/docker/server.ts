// The plugin's HTTP server on a unix socket (default /run/docker/plugins/weft.sock, where
// dockerd discovers plugins). Docker POSTs JSON to /<Interface>.<Method>; user errors are
// answered 200 with the error field of that interface (NetworkDriver: "Err", IpamDriver:
// "Error": libnetwork's two remote APIs differ, and Docker reads a wrong one as success),
// faults with a 500 and the cause (Docker's plugin client reads "Err" there), unknown methods
// with Docker's own 404 text (for optional methods that means "not supported").
import { existsSync, mkdirSync, rmSync, chmodSync } from 'node:fs'
import { dirname } from 'node:path'
import { WeftError } from '../errors/index.ts'
import type { Logger } from '../log.ts'
import { PLUGIN_CONTENT_TYPE } from './protocol.ts'

export const DEFAULT_PLUGIN_SOCKET = '/run/docker/plugins/weft.sock'

export interface PluginServer {
  socketPath: string
  stop(): Promise<void>
}

type Handler = (body: unknown) => Promise<Record<string, unknown>>

/** Errors that are the caller's (bad input, unknown or taken things): answered 200 {"Err"}. */
const isUserError = (e: unknown) =>
  e instanceof WeftError && ['ValidationError', 'NotFoundError', 'ConflictError'].includes(e.name)

export function servePlugin(
  socketPath: string,
  lookup: (method: string) => Handler | undefined,
  log: Logger,
): PluginServer {
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 })
  if (existsSync(socketPath)) rmSync(socketPath) // a stale socket of a killed agent
  const reply = (body: unknown, status = 200) =>
    new Response(JSON.stringify(body), { status, headers: { 'content-type': PLUGIN_CONTENT_TYPE } })
  const server = Bun.serve({
    unix: socketPath,
    development: false,
    error: (e) => reply({ Err: `weft: plugin request failed: ${e.message}` }, 500),
    async fetch(req) {
      // Docker's Host header is not a host name (the socket path): read the path by hand
      const method = /^(?:[a-z+]+:\/\/[^/]*)?\/([^?#]*)/i.exec(req.url)?.[1] ?? ''
      const handler = req.method === 'POST' ? lookup(method) : undefined
      if (!handler)
        return new Response('404 page not found\n', {
          status: 404,
          headers: { 'content-type': 'text/plain' },
        })
      let body: unknown = {}
      const text = await req.text()
      if (text.trim()) {
        try {
          body = JSON.parse(text)
        } catch (e) {
          const err = `${method}: request body is not JSON: ${(e as Error).message}`
          return reply({ Err: err, Error: err }, 400)
        }
      }
      const t0 = performance.now()
      try {
        const out = await handler(body)
        log.debug({ method, ms: Math.round(performance.now() - t0) }, 'docker plugin call')
        return reply(out)
      } catch (e) {
        const msg = (e as Error).message
        const field = method.startsWith('IpamDriver.') ? 'Error' : 'Err'
        if (isUserError(e)) {
          log.info({ method, err: msg }, 'docker plugin call refused')
          return reply({ [field]: msg })
        }
        log.error({ method, err: msg }, 'docker plugin call failed')
        const fault = `weft: ${method} failed: ${msg}`
        return reply({ Err: fault, Error: fault }, 500)
      }
    },
  })
  chmodSync(socketPath, 0o600)
  return {
    socketPath,
    async stop() {
      await server.stop(true)
      if (existsSync(socketPath)) rmSync(socketPath)
    },
  }
}
