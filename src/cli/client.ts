// The CLI's HTTP client for the admin API: unix:///PATH or tcp://HOST:PORT (as docker -H),
// bearer token from WEFT_TOKEN (or the file WEFT_TOKEN_FILE names). Failures become one-line
// CliErrors that say what to do.
import { AGENT_DEFAULTS } from '../agent/config.ts'
import { readSecret, SecretError } from '../util/secret.ts'
import { CliError, UsageError } from './_errors.ts'

/** The agent's default admin socket (written once, in the agent's config). */
export const DEFAULT_HOST = AGENT_DEFAULTS.api

function apiToken(env: Record<string, string | undefined>): string | undefined {
  try {
    return readSecret({ flag: 'token', envName: 'WEFT_TOKEN', env })
  } catch (e) {
    if (e instanceof SecretError) throw new UsageError(e.message)
    throw e
  }
}

export interface ApiTarget {
  /** As given: unix:///run/weft/weft.sock or tcp://10.0.0.1:7946 */
  host: string
  socket?: string
  baseUrl: string
  token?: string
}

/** Resolve -H / WEFT_HOST / the default into where requests go. */
export function apiTarget(
  host: string | undefined,
  env: Record<string, string | undefined> = process.env,
): ApiTarget {
  const h = host || env.WEFT_HOST || DEFAULT_HOST
  const token = apiToken(env)
  if (h.startsWith('unix://')) {
    const socket = h.slice('unix://'.length)
    if (!socket.startsWith('/'))
      throw new UsageError(
        `-H ${h}: a unix socket needs an absolute path, e.g. unix:///run/weft/weft.sock`,
      )
    return { host: h, socket, baseUrl: 'http://weft', token }
  }
  if (h.startsWith('/')) return { host: `unix://${h}`, socket: h, baseUrl: 'http://weft', token }
  const m = /^(?:tcp:\/\/)?(\[[^\]]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(h)
  if (!m || Number(m[2]) > 65535) {
    throw new UsageError(`-H "${h}" must be unix:///PATH or tcp://HOST:PORT`)
  }
  return { host: `tcp://${m[1]}:${m[2]}`, baseUrl: `http://${m[1]}:${m[2]}`, token }
}

export interface ApiClient {
  target: ApiTarget
  get<T = unknown>(path: string): Promise<T>
  post<T = unknown>(path: string, body: unknown): Promise<T>
  delete<T = unknown>(path: string): Promise<T>
  /** Raw text (for /metrics). */
  text(path: string): Promise<string>
}

/** `warn` hears an answer's Warning header (a read from the agent's possibly stale local copy). */
export function createClient(target: ApiTarget, warn?: (text: string) => void): ApiClient {
  const request = async (method: string, path: string, body?: unknown): Promise<Response> => {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (target.token) headers.authorization = `Bearer ${target.token}`
    let res: Response
    try {
      res = await fetch(`${target.baseUrl}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        ...(target.socket ? { unix: target.socket } : {}),
      } as RequestInit)
    } catch (e) {
      throw unreachable(target, e)
    }
    if (!res.ok) {
      const text = await res.text()
      let parsed: { error?: string; message?: string } | undefined
      try {
        parsed = JSON.parse(text)
      } catch {}
      const msg = parsed?.message ?? (text.trim() || `HTTP ${res.status}`)
      throw new CliError(msg, parsed?.error, res.status)
    }
    const warning = res.headers.get('warning')
    if (warning && warn) warn(`warning: ${/^\d{3} \S+ "(.*)"$/.exec(warning)?.[1] ?? warning}`)
    return res
  }
  const json = async <T>(res: Response): Promise<T> => {
    const text = await res.text()
    try {
      return JSON.parse(text) as T
    } catch {
      throw new CliError(
        `the agent at ${target.host} answered with something that is not JSON: ${text.slice(0, 80)}`,
      )
    }
  }
  return {
    target,
    get: async (path) => json(await request('GET', path)),
    post: async (path, body) => json(await request('POST', path, body)),
    delete: async (path) => json(await request('DELETE', path)),
    text: async (path) => (await request('GET', path)).text(),
  }
}

function unreachable(target: ApiTarget, e: unknown): CliError {
  const code = (e as { code?: string }).code
  if (code === 'EACCES' || code === 'EPERM') {
    return new CliError(
      `permission denied on ${target.host}: the socket is only for root (mode 0600); run as root`,
    )
  }
  return new CliError(
    `cannot reach the weft agent at ${target.host}: is \`weft agent\` running? (set -H or WEFT_HOST)`,
  )
}
