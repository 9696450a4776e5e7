// HTTP transport for the Consul API: one or several servers (tried in turn), ACL token, TLS
// verification, per-request timeouts, error mapping (endpoint + status), and retries with capped
// exponential backoff + jitter for idempotent requests only. Connection failures become
// StoreUnreachableError.
import { StoreUnreachableError } from '../../errors/index.ts'
import { Backoff, sleep, type BackoffOptions } from './backoff.ts'
import { KvHttpError, ServerUnreachableError, StoreIdentityError } from './errors.ts'
import { parseU64 } from '../u64.ts'
import { TlsPolicy, type StoreTlsOptions } from './tls.ts'
import { PIN_HANDSHAKE } from '../secure/ca-pin.ts'
import { ServerList } from './servers.ts'

export interface TransportOptions {
  /**
   * `http://host:port`, `https://…`, `consul://host:port` or `host:port`. `consul://` and a bare
   * `host:port` mean https when `tls` gives a CA or pins one, http otherwise. Several servers
   * of one cluster are separated by commas (`consul://A:8500,B:8500`) and tried in turn.
   */
  address: string
  /** ACL token sent as X-Consul-Token. */
  token?: string
  /**
   * A unix socket the store listens on (the embedded store, for the host serving it): every
   * request goes there, with `address` (http://) naming it in errors and the Host header.
   */
  unix?: string
  /** How to verify an https store (default: the system's CAs). */
  tls?: StoreTlsOptions
  /** Timeout of non-blocking requests in ms (default 10 s). */
  timeoutMs?: number
  /** Retries of idempotent requests after the first try (default 3). */
  retries?: number
  /** Backoff between those retries (default base 100 ms, cap 2 s). */
  retryBackoff?: BackoffOptions
  /** Replaceable fetch (tests). */
  fetch?: typeof fetch
}

export interface RequestSpec {
  method: 'GET' | 'PUT' | 'DELETE'
  /** Path below /v1, already encoded, e.g. `kv/a/b`. */
  path: string
  query?: Record<string, string | bigint | number | boolean | undefined>
  body?: Uint8Array | string
  /** Safe to repeat: reads, session renew/destroy, read-only txn. */
  idempotent: boolean
  /** Statuses that are answers, not errors (e.g. 404 for a KV read, 409 for txn). */
  accept?: number[]
  timeoutMs?: number
  signal?: AbortSignal
  /** Retries override (the watch loop does its own backoff: 0). */
  retries?: number
}

export interface RawResponse {
  status: number
  headers: Headers
  body: Uint8Array
  endpoint: string
}

/** Query metadata of a blocking-capable read. */
export interface QueryMeta {
  /** X-Consul-Index (0n when absent). */
  index: bigint
  knownLeader: boolean
  lastContactMs: number
}

export function queryMeta(h: Headers): QueryMeta {
  return {
    index: parseU64(h.get('x-consul-index')) ?? 0n,
    knownLeader: h.get('x-consul-knownleader') === 'true',
    lastContactMs: Number(h.get('x-consul-lastcontact') ?? '0') || 0,
  }
}

/** Encode a key for a URL path: each segment percent-encoded, '/' kept. */
export const encodeKey = (key: string): string => key.split('/').map(encodeURIComponent).join('/')

export class Transport {
  readonly servers: ServerList
  private readonly fetchFn: typeof fetch
  private readonly tls: TlsPolicy

  constructor(readonly opts: TransportOptions) {
    this.tls = new TlsPolicy(opts.tls)
    if (opts.unix !== undefined && /^https:\/\//i.test(opts.address.trim()))
      throw new Error(
        `store ${opts.address} over the unix socket ${opts.unix}: a socket is reached without TLS; use http://`,
      )
    this.servers = new ServerList(opts.address, this.tls.required)
    this.fetchFn = opts.fetch ?? fetch
  }

  /** The server requests go to first (the one that answered last). */
  get baseUrl(): string {
    return this.servers.current
  }

  async request(spec: RequestSpec): Promise<RawResponse> {
    const retries = spec.idempotent ? (spec.retries ?? this.opts.retries ?? 3) : 0
    const backoff = new Backoff({ baseMs: 100, maxMs: 2_000, ...this.opts.retryBackoff })
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.anyServer(spec)
        if (r.status === 429 || r.status >= 500) {
          if (attempt < retries && !(spec.accept ?? []).includes(r.status)) {
            await sleep(backoff.next(), spec.signal)
            continue
          }
        }
        if ((r.status >= 200 && r.status < 300) || (spec.accept ?? []).includes(r.status)) return r
        throw new KvHttpError(
          r.endpoint,
          r.status,
          new TextDecoder().decode(r.body),
          hintFor(r.status),
        )
      } catch (e) {
        if (spec.signal?.aborted) throw spec.signal.reason ?? e
        if (e instanceof StoreUnreachableError && attempt < retries) {
          await sleep(backoff.next(), spec.signal)
          continue
        }
        throw e
      }
    }
  }

  /**
   * One try of `spec`, at each server in turn until one answers. A write moves on only when
   * its server refused the connection (it was never sent); after a timeout it may have been
   * applied, so it fails like a single server would.
   */
  private async anyServer(spec: RequestSpec): Promise<RawResponse> {
    const servers = this.servers.inTurn()
    const failures: ServerUnreachableError[] = []
    for (const base of servers) {
      try {
        const r = await this.once(spec, base)
        this.servers.answered(base)
        return r
      } catch (e) {
        if (!(e instanceof ServerUnreachableError) || servers.length === 1) throw e
        failures.push(e)
        if (!spec.idempotent && !notSent(e)) throw e
      }
    }
    throw new StoreUnreachableError(
      `cannot reach any server of the cluster store (${failures.map((f) => `${f.server}: ${f.why}`).join('; ')}) for ${failures[0]!.what}; is a store server running? check --store`,
      { cause: failures.at(-1) },
    )
  }

  private async once(spec: RequestSpec, base: string): Promise<RawResponse> {
    const url = new URL(`${base}/v1/${spec.path}`)
    for (const [k, v] of Object.entries(spec.query ?? {})) {
      if (v === undefined || v === false) continue
      url.searchParams.set(k, v === true ? '' : String(v))
    }
    const endpoint = `${spec.method} /v1/${spec.path}`
    const headers: Record<string, string> = {}
    if (this.opts.token) headers['X-Consul-Token'] = this.opts.token
    const timeoutMs = spec.timeoutMs ?? this.opts.timeoutMs ?? 10_000
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = spec.signal ? AbortSignal.any([spec.signal, timeout]) : timeout
    let res: Response
    try {
      const tls = await this.tls.forFetch(url, { timeoutMs, signal })
      res = await this.fetchFn(url, {
        method: spec.method,
        headers,
        body: spec.body,
        signal,
        tls,
        ...(this.opts.unix ? { unix: this.opts.unix } : {}),
      } as RequestInit)
      const body = new Uint8Array(await res.arrayBuffer())
      return { status: res.status, headers: res.headers, body, endpoint }
    } catch (e) {
      if (spec.signal?.aborted) throw spec.signal.reason ?? e
      if (e instanceof StoreIdentityError || e instanceof ServerUnreachableError) throw e
      const code = (e as { code?: unknown }).code
      if (typeof code === 'string' && CERT_ERROR.test(code)) {
        throw new StoreIdentityError(
          `the store at ${base} presented a certificate that does not verify against ${this.tls.trustedWhat} (${code}); ` +
            'refusing to send it the token. Check --store and the CA (join token or --store-ca)',
        )
      }
      const why = timeout.aborted
        ? `no answer within ${timeoutMs} ms`
        : e instanceof Error
          ? e.message
          : String(e)
      const where = this.opts.unix ? `${base} (unix socket ${this.opts.unix})` : base
      throw new ServerUnreachableError(where, endpoint, why, { cause: e })
    }
  }
}

// Connection failures that prove the request never left: safe to send a write elsewhere.
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ConnectionRefused',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'FailedToOpenSocket',
])

function notSent(e: ServerUnreachableError): boolean {
  const code = (e.cause as { code?: unknown } | undefined)?.code
  // the TLS pin handshake fails before anything is sent, whatever its cause
  return (typeof code === 'string' && NOT_SENT.has(code)) || e.what === PIN_HANDSHAKE
}

// Bun's fetch reports TLS verification failures by OpenSSL-style codes.
const CERT_ERROR = /CERT|SIGNATURE|SELF_SIGNED|ISSUER|ALTNAME/

function hintFor(status: number): string {
  if (status === 403)
    return 'check the store token (WEFT store token / X-Consul-Token) and its ACL policy'
  if (status === 429) return 'the store is rate limiting; retry later'
  return ''
}
