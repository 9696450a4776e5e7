// Listeners for the admin API: a unix socket (mode 0600) always, TCP only when asked and
// only with a bearer token.
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { ValidationError } from '../errors/index.ts'
import type { AgentApi } from './deps.ts'
import { createApp } from './app.ts'

export interface ApiListeners {
  socketPath: string
  tcp?: { hostname: string; port: number }
  stop(): Promise<void>
}

export function parseTcpAddress(addr: string): { hostname: string; port: number } {
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[^:]+):(\d+)$/.exec(addr)
  if (!m || Number(m[2]) > 65535) throw new ValidationError(`--api-tcp "${addr}" must be HOST:PORT`)
  return { hostname: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }
}

export function serveApi(api: AgentApi, opts: { socket: string; tcp?: string; token?: string }): ApiListeners {
  if (opts.tcp && !opts.token) {
    throw new ValidationError('refusing to serve the admin API on TCP without a token: pass --token or WEFT_TOKEN')
  }
  const socketPath = opts.socket.replace(/^unix:\/\//, '')
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 })
  if (existsSync(socketPath)) rmSync(socketPath) // a stale socket from a killed agent
  const local = createApp(api)
  // created 0600 from the start (umask), not chmod-ed after a window where others could connect
  const umask = process.umask(0o177)
  let unixServer: ReturnType<typeof Bun.serve>
  try {
    unixServer = Bun.serve({ unix: socketPath, fetch: local.fetch })
  } finally {
    process.umask(umask)
  }
  chmodSync(socketPath, 0o600)
  let tcpServer: ReturnType<typeof Bun.serve> | undefined
  let tcp: { hostname: string; port: number } | undefined
  if (opts.tcp) {
    const t = parseTcpAddress(opts.tcp)
    const remote = createApp(api, { token: opts.token })
    tcpServer = Bun.serve({ hostname: t.hostname, port: t.port, fetch: remote.fetch })
    tcp = { hostname: t.hostname, port: tcpServer.port ?? t.port }
  }
  return {
    socketPath,
    tcp,
    async stop() {
      await unixServer.stop(true)
      await tcpServer?.stop(true)
      rmSync(socketPath, { force: true })
    },
  }
}
