// Listeners for the admin API: a unix socket (mode 0600) always, TCP only when asked and
// only with a token long enough to guard it.
import { chmodSync, existsSync, mkdirSync, rmSync } from 'node:fs'
import { dirname } from 'node:path'
import { ValidationError } from '../errors/index.ts'
import { createLogger, type Logger } from '../log.ts'
import { assertApiToken } from './auth.ts'
import type { AgentApi } from './deps.ts'
import { createApp, MAX_BODY_BYTES } from './app.ts'
import { DiskFullWatch } from './disk-watch.ts'
import { listenHttp, type HttpListener } from './http-server.ts'

export interface ApiListeners {
  socketPath: string
  tcp?: { hostname: string; port: number }
  stop(): Promise<void>
}

export function parseTcpAddress(addr: string): { hostname: string; port: number } {
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(addr)
  if (!m || Number(m[2]) > 65535) throw new ValidationError(`--api-tcp "${addr}" must be HOST:PORT`)
  return { hostname: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) }
}

export interface ServeApiOptions {
  socket: string
  tcp?: string
  token?: string
  log?: Logger
}

/** Checks everything first (nothing is created on bad options), then listens. */
export async function serveApi(api: AgentApi, opts: ServeApiOptions): Promise<ApiListeners> {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(opts.socket)
  if (scheme && scheme[1]!.toLowerCase() !== 'unix') {
    throw new ValidationError(
      `--api "${opts.socket}" must be unix:///PATH: to serve TCP, use --api-tcp HOST:PORT with --token`,
    )
  }
  const t = opts.tcp ? parseTcpAddress(opts.tcp) : undefined
  if (t) assertApiToken(opts.token)
  const log = opts.log ?? createLogger({ name: api.node })
  const socketPath = opts.socket.replace(/^unix:\/\//, '')
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 })
  if (existsSync(socketPath)) rmSync(socketPath) // a stale socket from a killed agent
  const disk = new DiskFullWatch()
  const local = createApp(api, { log, disk })
  // created 0600 from the start (umask), not chmod-ed after a window where others could connect
  const umask = process.umask(0o177)
  let restored = false
  const restore = () => {
    if (!restored) process.umask(umask)
    restored = true
  }
  let unixServer: HttpListener
  try {
    unixServer = await listenHttp(
      local.fetch,
      { unix: socketPath },
      { maxBodyBytes: MAX_BODY_BYTES, log, onBound: restore },
    )
  } finally {
    restore()
  }
  chmodSync(socketPath, 0o600)
  let tcpServer: HttpListener | undefined
  let tcp: { hostname: string; port: number } | undefined
  if (t) {
    const remote = createApp(api, { token: opts.token, log, disk })
    try {
      tcpServer = await listenHttp(remote.fetch, t, { maxBodyBytes: MAX_BODY_BYTES, log })
    } catch (e) {
      await unixServer.stop()
      rmSync(socketPath, { force: true })
      throw e
    }
    tcp = { hostname: t.hostname, port: tcpServer.port ?? t.port }
  }
  return {
    socketPath,
    tcp,
    async stop() {
      await unixServer.stop()
      await tcpServer?.stop()
      rmSync(socketPath, { force: true })
    },
  }
}
