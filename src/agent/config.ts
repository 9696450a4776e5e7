// Agent configuration: flags and environment parsed and validated into one frozen object.
// Defaults echo Docker's daemon flags (see README "Agent flags").
import { hostname } from 'node:os'
import { join } from 'node:path'
import { ValidationError } from '../errors/index.ts'
import { iprouteJson, parseIPv4 } from '../net/index.ts'

export interface AgentConfig {
  name: string
  /** Underlay IPv4 address (the VTEP). */
  advertise: string
  store: { kind: 'embedded'; listen: { hostname: string; port: number } } | { kind: 'consul'; address: string }
  /** Consul ACL token for the store (and the embedded server's required token). */
  storeToken?: string
  dataDir: string
  apiSocket: string
  apiTcp?: string
  apiToken?: string
  datapath: 'bpf' | 'kernel'
  /** Session TTL in ms: a dead node's endpoints are dropped 1-2 TTLs after it stops renewing. */
  ttlMs: number
  logLevel: string
  /** Docker's API socket (unix:///PATH) when serving the Docker plugin (--docker). */
  docker?: string
  /** Where the Docker plugin listens (default /run/docker/plugins/weft.sock). */
  dockerPluginSocket?: string
}

export interface AgentFlags {
  name?: string
  advertise?: string
  store?: string
  'kv-listen'?: string
  'store-token'?: string
  data?: string
  api?: string
  'api-tcp'?: string
  token?: string
  datapath?: string
  ttl?: string
  'log-level'?: string
  /** --docker [unix:///var/run/docker.sock]: a bare flag (true or '') means the default socket. */
  docker?: string | boolean
  'docker-plugin-socket'?: string
}

function parseDurationMs(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(s.trim())
  if (!m) throw new ValidationError(`${what} "${s}" must be a duration like 10s, 500ms or 1m`)
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000)
}

function parseHostPort(s: string, what: string): { hostname: string; port: number } {
  const m = /^(?:[a-z]+:\/\/)?([^:/]+):(\d{1,5})$/.exec(s.trim())
  if (!m || Number(m[2]) > 65535) throw new ValidationError(`${what} "${s}" must be HOST:PORT`)
  return { hostname: m[1]!, port: Number(m[2]) }
}

/** The advertise flag is an IPv4 address or an interface name (its first IPv4 address). */
async function resolveAdvertise(v: string): Promise<string> {
  if (/^\d+\.\d+\.\d+\.\d+$/.test(v)) return parseIPv4(v, '--advertise')
  const links = await iprouteJson<{ ifname: string; addr_info?: { family: string; local: string }[] }>(
    ['ip', '-4', 'addr', 'show'],
    { context: 'resolve --advertise' },
  )
  const ip = links.find((l) => l.ifname === v)?.addr_info?.find((a) => a.family === 'inet')?.local
  if (!ip) throw new ValidationError(`--advertise ${v}: no such interface with an IPv4 address (see \`ip -4 addr\`)`)
  return ip
}

export async function parseAgentConfig(f: AgentFlags, env = process.env): Promise<Readonly<AgentConfig>> {
  if (!f.advertise) throw new ValidationError('--advertise ADDR|IFACE is required: the underlay address other hosts reach this one at')
  const advertise = await resolveAdvertise(f.advertise)
  const name = f.name ?? hostname()
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) throw new ValidationError(`--name "${name}" may use letters, digits, _ . -`)
  const storeFlag = f.store ?? 'embedded'
  let store: AgentConfig['store']
  if (storeFlag === 'embedded') {
    store = { kind: 'embedded', listen: parseHostPort(f['kv-listen'] ?? `${advertise}:8500`, '--kv-listen') }
  } else if (/^(consul|http|https):\/\//.test(storeFlag)) {
    parseHostPort(storeFlag.replace(/^https?:\/\//, 'x://'), '--store')
    store = { kind: 'consul', address: storeFlag }
  } else {
    throw new ValidationError(`--store "${storeFlag}" must be "embedded" or consul://HOST:PORT`)
  }
  const datapath = f.datapath ?? 'bpf'
  if (datapath !== 'bpf' && datapath !== 'kernel') throw new ValidationError(`--datapath must be bpf or kernel, not "${datapath}"`)
  const ttlMs = parseDurationMs(f.ttl ?? '10s', '--ttl')
  if (ttlMs < 1000 || ttlMs > 86_400_000) throw new ValidationError('--ttl must be between 1s and 24h')
  const apiToken = f.token ?? env.WEFT_TOKEN
  if (f['api-tcp'] && !apiToken) {
    throw new ValidationError('--api-tcp needs a bearer token: pass --token or set WEFT_TOKEN (refusing to serve TCP without one)')
  }
  return Object.freeze({
    name,
    advertise,
    store,
    storeToken: f['store-token'] ?? env.WEFT_STORE_TOKEN,
    dataDir: f.data ?? '/var/lib/weft',
    apiSocket: (f.api ?? 'unix:///run/weft/weft.sock').replace(/^unix:\/\//, ''),
    apiTcp: f['api-tcp'],
    apiToken,
    datapath,
    ttlMs,
    logLevel: f['log-level'] ?? env.WEFT_LOG_LEVEL ?? 'info',
    ...dockerConfig(f),
  })
}

function dockerConfig(f: AgentFlags): Pick<AgentConfig, 'docker' | 'dockerPluginSocket'> {
  if (f.docker === undefined || f.docker === false) {
    if (f['docker-plugin-socket']) throw new ValidationError('--docker-plugin-socket needs --docker')
    return {}
  }
  const docker = f.docker === true || f.docker === '' ? 'unix:///var/run/docker.sock' : f.docker
  if (!/^unix:\/\/\/./.test(docker)) throw new ValidationError(`--docker "${docker}" must be unix:///PATH (Docker's API socket)`)
  const socket = f['docker-plugin-socket']
  if (socket !== undefined && !socket.startsWith('/')) throw new ValidationError(`--docker-plugin-socket "${socket}" must be an absolute path`)
  return { docker, ...(socket ? { dockerPluginSocket: socket } : {}) }
}

export const statePath = (c: AgentConfig) => join(c.dataDir, c.name, 'state.db')
export const kvPath = (c: AgentConfig) => join(c.dataDir, c.name, 'kv.db')
