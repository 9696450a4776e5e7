// Agent configuration: flags and environment parsed and validated into one frozen object.
// Defaults echo Docker's daemon flags (see README "Agent flags") and are written only here:
// `weft agent --help` prints these. This module stays light (no net/, no libraries, node:os
// only when parsing) because every CLI start reads AGENT_DEFAULTS.
import { join } from 'node:path'
import { ValidationError } from '../errors/index.ts'
import { parseDurationMs } from '../util/duration.ts'
import { defaultLogFormat, type LogFormat } from '../util/log-format.ts'
import { isNodeName, NODE_NAME_RULE } from '../util/names.ts'
import { readSecret, SecretError } from '../util/secret.ts'

/** The agent's defaults, as they are typed on the command line. */
export const AGENT_DEFAULTS = Object.freeze({
  store: 'embedded',
  /** Port of the embedded store (Consul's). */
  kvPort: 8500,
  data: '/var/lib/weft',
  api: 'unix:///run/weft/weft.sock',
  datapath: 'bpf',
  ttl: '10s',
  logLevel: 'info',
  /** The host's resolvers: names outside the overlay are forwarded to them. */
  resolvConf: '/etc/resolv.conf',
})

export const TTL_MIN_MS = 1000
export const TTL_MAX_MS = 86_400_000

export interface AgentConfig {
  name: string
  /** Underlay IPv4 address (the VTEP). */
  advertise: string
  store:
    | { kind: 'embedded'; listen: { hostname: string; port: number } }
    | { kind: 'consul'; address: string }
    | {
        kind: 'etcd'
        address: string
        endpoints: string[]
        /** etcds://: PEM texts of --store-ca (else the system's CAs) and the client certificate. */
        tls?: { ca?: string; cert?: string; key?: string }
      }
  /** A real Consul's ACL token, or an etcd USER:PASSWORD (--store-token); refused with the embedded store, which makes its own. */
  storeToken?: string
  /**
   * The join token given to this start (--join-token, --join-token-file, $WEFT_JOIN_TOKEN),
   * checked for shape: another weft host's embedded store. Without one, a joining agent uses
   * the token an earlier join kept in <data>/join-token.
   */
  joinToken?: string
  /** --store-ca: PEM file of the CA a real Consul's https certificate is checked against. */
  storeCa?: string
  dataDir: string
  apiSocket: string
  apiTcp?: string
  apiToken?: string
  datapath: 'bpf' | 'kernel'
  /** Session TTL in ms: a dead node's endpoints are dropped 1-2 TTLs after it stops renewing. */
  ttlMs: number
  logLevel: string
  /** Log lines as pino JSON (machines) or readable text (a terminal). */
  logFormat: LogFormat
  /** The resolv.conf listing the resolvers names outside the overlay are forwarded to. */
  resolvConf: string
  /** Things the operator should know that did not stop the start (log them as warnings). */
  warnings: string[]
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
  'store-token-file'?: string
  'join-token'?: string
  'join-token-file'?: string
  /** PEM CA file of a real Consul's https or of etcds:// members; etcds:// client certificate and key files. */
  'store-ca'?: string
  'store-cert'?: string
  'store-key'?: string
  data?: string
  api?: string
  'api-tcp'?: string
  token?: string
  'token-file'?: string
  datapath?: string
  ttl?: string
  'log-level'?: string
  'log-format'?: string
  'resolv-conf'?: string
  /** Docker daemon spelling of --store. */
  'cluster-store'?: string
  /** Docker daemon spelling of --advertise (IP:PORT or IFACE:PORT; the port is not used). */
  'cluster-advertise'?: string
  /** Docker's API socket: serve the Docker plugin. */
  docker?: string
  'docker-plugin-socket'?: string
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']

function parseHostPort(s: string, what: string): { hostname: string; port: number } {
  const m = /^(?:[a-z]+:\/\/)?([^:/,]+):(\d{1,5})$/.exec(s.trim())
  if (!m || Number(m[2]) > 65535) throw new ValidationError(`${what} "${s}" must be HOST:PORT`)
  return { hostname: m[1]!, port: Number(m[2]) }
}

/** --store consul://A:8500[,B:8500…] (or http(s)://): every server of the list is HOST:PORT. */
function checkStoreList(v: string): void {
  const body = v.trim().replace(/^[a-z]+:\/\//, '')
  const servers = body.split(',')
  for (const s of servers) {
    if (!s.trim())
      throw new ValidationError(
        `--store "${v}": empty server in the list; write consul://A:8500,B:8500`,
      )
    parseHostPort(s.replace(/^https?:\/\//, ''), '--store')
  }
}

/**
 * The advertise flag is an IPv4 address or an interface name (its first IPv4 address).
 * Docker's `--cluster-advertise` adds a port (`eth0:2376`, `10.0.0.5:2376`): the address part
 * is taken and a warning says the port is not used (weft's ports are fixed: 4789, 8500).
 */
async function resolveAdvertise(flag: string, v: string, warnings: string[]): Promise<string> {
  let target = v.trim()
  const withPort = /^(.+):(\d{1,5})$/.exec(target)
  if (withPort) {
    target = withPort[1]!
    warnings.push(
      `${flag} ${v}: using the address part "${target}"; the port ${withPort[2]} is not used (VXLAN is UDP 4789, the embedded store listens on --kv-listen)`,
    )
  }
  if (/^\d+\.\d+\.\d+\.\d+$/.test(target)) {
    const { parseIPv4 } = await import('../net/ip.ts')
    return parseIPv4(target, flag)
  }
  const { networkInterfaces } = await import('node:os')
  const ip = networkInterfaces()[target]?.find((a) => a.family === 'IPv4')?.address
  if (!ip)
    throw new ValidationError(
      `${flag} ${v}: no such interface with an IPv4 address (see \`ip -4 addr\`)`,
    )
  return ip
}

/** --api is the unix socket; TCP has its own flag (it needs a token). */
function parseApiSocket(v: string): string {
  if (/^tcp:\/\//.test(v)) {
    throw new ValidationError(
      `--api ${v}: --api is the admin API's unix socket; to serve it on TCP use --api-tcp HOST:PORT (with --token-file)`,
    )
  }
  const path = v.startsWith('unix://') ? v.slice('unix://'.length) : v
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || !path.startsWith('/')) {
    throw new ValidationError(
      `--api "${v}" must be unix:///ABSOLUTE/PATH (e.g. ${AGENT_DEFAULTS.api})`,
    )
  }
  return path
}

/** One of two spellings of the same flag (ours and Docker's daemon's), never both. */
function either(
  f: AgentFlags,
  ours: keyof AgentFlags,
  docker: keyof AgentFlags,
): string | undefined {
  if (f[ours] !== undefined && f[docker] !== undefined) {
    throw new ValidationError(
      `--${ours} and --${docker} are the same flag (--${docker} is Docker's name): give one`,
    )
  }
  return f[ours] ?? f[docker]
}

function secret(
  f: AgentFlags,
  flag: 'token' | 'store-token' | 'join-token',
  envName: string,
  env: Record<string, string | undefined>,
) {
  try {
    return readSecret({ flag, value: f[flag], file: f[`${flag}-file`], envName, env })
  } catch (e) {
    if (e instanceof SecretError) throw new ValidationError(e.message)
    throw e
  }
}

/** Where a secret came from, for messages: the flag, its file, or the environment. */
function sourceOf(
  f: AgentFlags,
  flag: 'join-token',
  envName: string,
  env: Record<string, string | undefined>,
): string {
  if (f[flag] !== undefined) return `--${flag}`
  if (f[`${flag}-file`] !== undefined) return `--${flag}-file ${f[`${flag}-file`]}`
  return env[envName] ? `$${envName}` : `$${envName}_FILE ${env[`${envName}_FILE`]}`
}

export async function parseAgentConfig(
  f: AgentFlags,
  env: Record<string, string | undefined> = process.env,
): Promise<Readonly<AgentConfig>> {
  const warnings: string[] = []
  const advertiseFlag = f.advertise !== undefined ? '--advertise' : '--cluster-advertise'
  const advertiseText = either(f, 'advertise', 'cluster-advertise')
  if (!advertiseText)
    throw new ValidationError(
      '--advertise ADDR|IFACE is required: the underlay address other hosts reach this one at',
    )
  const advertise = await resolveAdvertise(advertiseFlag, advertiseText, warnings)
  const name = f.name ?? (await import('node:os')).hostname()
  if (!isNodeName(name)) throw new ValidationError(`--name "${name}" must be ${NODE_NAME_RULE}`)
  const storeFlag = either(f, 'store', 'cluster-store') ?? AGENT_DEFAULTS.store
  let store: AgentConfig['store']
  if (storeFlag === 'embedded') {
    store = {
      kind: 'embedded',
      listen: parseHostPort(
        f['kv-listen'] ?? `${advertise}:${AGENT_DEFAULTS.kvPort}`,
        '--kv-listen',
      ),
    }
  } else if (/^(consul|http|https):\/\//.test(storeFlag)) {
    checkStoreList(storeFlag)
    store = { kind: 'consul', address: storeFlag }
  } else if (/^etcds?:\/\//.test(storeFlag)) {
    const { parseEtcdUrl, etcdTlsFiles } = await import('../store/etcd/url.ts')
    const url = parseEtcdUrl(storeFlag)
    const tls = etcdTlsFiles(storeFlag, url.tls, {
      ca: f['store-ca'],
      cert: f['store-cert'],
      key: f['store-key'],
    })
    store = { kind: 'etcd', address: storeFlag, endpoints: url.endpoints, ...(tls ? { tls } : {}) }
  } else {
    throw new ValidationError(
      `--store "${storeFlag}" must be "embedded", consul://HOST:PORT or etcd://HOST:PORT[,HOST:PORT…]`,
    )
  }
  if (store.kind !== 'etcd') {
    const tlsFlag = (['store-cert', 'store-key'] as const).find((k) => f[k] !== undefined)
    if (tlsFlag)
      throw new ValidationError(
        `--${tlsFlag} is for an etcd store over TLS (--store etcds://HOST:PORT,…)`,
      )
  }
  if (f['kv-listen'] !== undefined && store.kind !== 'embedded') {
    throw new ValidationError(
      '--kv-listen is for the embedded store only (this agent uses --store ' + storeFlag + ')',
    )
  }
  const storeToken = secret(f, 'store-token', 'WEFT_STORE_TOKEN', env)
  const joinToken = secret(f, 'join-token', 'WEFT_JOIN_TOKEN', env)
  await checkStoreSecrets(store, {
    storeToken,
    joinToken,
    joinTokenFrom: sourceOf(f, 'join-token', 'WEFT_JOIN_TOKEN', env),
    storeCa: f['store-ca'],
  })
  const datapath = f.datapath ?? AGENT_DEFAULTS.datapath
  if (datapath !== 'bpf' && datapath !== 'kernel')
    throw new ValidationError(`--datapath must be bpf or kernel, not "${datapath}"`)
  const ttlText = f.ttl ?? AGENT_DEFAULTS.ttl
  const ttlMs = parseDurationMs(ttlText)
  if (ttlMs === undefined)
    throw new ValidationError(`--ttl "${ttlText}" must be a duration like 10s, 500ms, 1m30s or 24h`)
  if (ttlMs < TTL_MIN_MS || ttlMs > TTL_MAX_MS)
    throw new ValidationError(`--ttl ${ttlText}: must be between 1s and 24h`)
  const apiToken = secret(f, 'token', 'WEFT_TOKEN', env)
  if (f['api-tcp'] && !apiToken) {
    throw new ValidationError(
      '--api-tcp needs a bearer token: pass --token or set WEFT_TOKEN (or --token-file PATH: a --token value shows in ps); refusing to serve TCP without one',
    )
  }
  if (f['api-tcp']) {
    parseHostPort(f['api-tcp'], '--api-tcp')
    // here, before anything is created: a guessable token must not get as far as a listener
    const { apiTokenProblem } = await import('../api/auth.ts')
    const problem = apiTokenProblem(apiToken)
    if (problem) throw new ValidationError(`--api-tcp: ${problem}`)
  }
  const resolvConf = f['resolv-conf'] ?? AGENT_DEFAULTS.resolvConf
  if (!resolvConf.startsWith('/'))
    throw new ValidationError(
      `--resolv-conf "${resolvConf}" must be an absolute path (e.g. ${AGENT_DEFAULTS.resolvConf})`,
    )
  const logLevel = f['log-level'] ?? env.WEFT_LOG_LEVEL ?? AGENT_DEFAULTS.logLevel
  if (!LOG_LEVELS.includes(logLevel))
    throw new ValidationError(`--log-level "${logLevel}" must be one of ${LOG_LEVELS.join(', ')}`)
  const logFormat = f['log-format'] ?? defaultLogFormat(env)
  if (logFormat !== 'json' && logFormat !== 'text') {
    throw new ValidationError(`--log-format "${logFormat}" must be json or text`)
  }
  return Object.freeze({
    name,
    advertise,
    store,
    storeToken,
    joinToken,
    storeCa: f['store-ca'],
    dataDir: f.data ?? AGENT_DEFAULTS.data,
    apiSocket: parseApiSocket(f.api ?? AGENT_DEFAULTS.api),
    apiTcp: f['api-tcp'],
    apiToken,
    datapath,
    ttlMs,
    logLevel,
    logFormat,
    warnings,
    resolvConf,
    ...dockerConfig(f),
  })
}

/**
 * Which secret goes with which store: the embedded store makes its own (refuse a Consul
 * token or CA for it, and a join token, which is for joining another host); a join token
 * carries the store token and pins the CA, so it takes neither --store-token nor --store-ca.
 */
async function checkStoreSecrets(
  store: AgentConfig['store'],
  s: { storeToken?: string; joinToken?: string; joinTokenFrom: string; storeCa?: string },
): Promise<void> {
  if (store.kind === 'embedded') {
    if (s.storeToken !== undefined)
      throw new ValidationError(
        '--store-token is for a real Consul: the embedded store makes its own token (<data>/join-token); drop --store-token (and WEFT_STORE_TOKEN)',
      )
    if (s.storeCa !== undefined)
      throw new ValidationError(
        '--store-ca is for a real Consul over https: the embedded store makes its own CA (<data>/store-ca.pem); drop --store-ca',
      )
    if (s.joinToken !== undefined)
      throw new ValidationError(
        "--join-token joins another host's store: give it with --store consul://HOST:8500 (this agent would serve its own embedded store and print its own join token); unset WEFT_JOIN_TOKEN if it came from there",
      )
    return
  }
  if (s.joinToken === undefined) return
  if (store.kind === 'etcd')
    throw new ValidationError(
      "--join-token joins a weft host's embedded store (--store consul://HOST:8500); an etcd store takes --store-token USER:PASSWORD or client certificates",
    )
  const { parseJoinToken } = await import('../kv/secure/join-token.ts')
  parseJoinToken(s.joinToken, s.joinTokenFrom)
  if (s.storeToken !== undefined || s.storeCa !== undefined)
    throw new ValidationError(
      '--join-token carries the store token and pins its CA: drop --store-token and --store-ca (those are for a real Consul)',
    )
  if (/^http:\/\//i.test(store.address.trim()))
    throw new ValidationError(
      `--store ${store.address} with --join-token: the embedded store speaks TLS only; use consul://HOST:PORT or https://HOST:PORT`,
    )
}

function dockerConfig(f: AgentFlags): Pick<AgentConfig, 'docker' | 'dockerPluginSocket'> {
  const socket = f['docker-plugin-socket']
  if (f.docker === undefined) {
    if (socket !== undefined)
      throw new ValidationError('--docker-plugin-socket needs --docker unix:///PATH')
    return {}
  }
  if (!/^unix:\/\/\/./.test(f.docker)) {
    throw new ValidationError(
      `--docker "${f.docker}" must be unix:///PATH, Docker's API socket (e.g. unix:///var/run/docker.sock)`,
    )
  }
  if (socket !== undefined && !socket.startsWith('/'))
    throw new ValidationError(`--docker-plugin-socket "${socket}" must be an absolute path`)
  return { docker: f.docker, ...(socket !== undefined ? { dockerPluginSocket: socket } : {}) }
}

export const statePath = (c: AgentConfig) => join(c.dataDir, c.name, 'state.db')
export const kvPath = (c: AgentConfig) => join(c.dataDir, c.name, 'kv.db')
/**
 * The embedded store's unix socket for this agent's own client (no TLS on a loopback of one
 * process); in a directory of its own that only root can enter (see kv/secure/local-socket.ts).
 */
export const storeSocketPath = (c: AgentConfig) => join(c.dataDir, c.name, 'local-store', 'kv.sock')
