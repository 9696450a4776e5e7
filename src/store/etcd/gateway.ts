// etcd's v3 JSON gateway (POST /v3/...) over fetch: no gRPC library, so it bundles into the
// single binary. Members are tried in turn; every request asks for a leader
// (Grpc-Metadata-hasleader), so a member that lost quorum answers "no leader" at once
// instead of holding the request until it times out.
import { OutcomeUnknownError, StoreUnreachableError } from '../../errors/index.ts'
import type { EtcdAuth } from './auth.ts'
import { EtcdServerError } from './errors.ts'

export interface EtcdGatewayOptions {
  /** Client URLs of the members: http://HOST:PORT or https://HOST:PORT. */
  endpoints: string[]
  /** One request to one member (default 2.5 s). */
  timeoutMs?: number
  /** How long a write waits out "no leader" (an election) before it fails (default 1 s). */
  electionWaitMs?: number
  /** Bun's fetch `tls` option for https members (CA, client certificate and key). */
  tls?: { ca?: string; cert?: string; key?: string }
  /** User and password (etcd auth); the token is fetched and renewed here. */
  auth?: EtcdAuth
}

/** The request never reached this member (connection refused, no route): safe to send elsewhere. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ConnectionRefused',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'FailedToOpenSocket',
])

/** TLS handshake failures (Bun reports OpenSSL-style codes): nothing was sent either. */
const TLS_FAILURE = /CERT|SIGNATURE|SELF_SIGNED|ISSUER|ALTNAME|HANDSHAKE|SSL|TLS/

/** etcd's answers that say the request was not applied and another member may take it. */
const NOT_APPLIED =
  /no leader|not capable|too many requests|unhealthy cluster|leader is not ready|raft: stopped|server stopped|not started/i

/** One member's failure, and whether the request may have been applied there. */
interface Failure {
  member: string
  why: string
  maybeApplied: boolean
}

export interface CallOptions {
  /** A write: a failure after sending is OutcomeUnknownError, and it is never sent twice. */
  write?: boolean
  signal?: AbortSignal
}

export class EtcdGateway {
  private preferred = 0
  readonly timeoutMs: number
  private readonly electionWaitMs: number

  constructor(private readonly o: EtcdGatewayOptions) {
    if (o.endpoints.length === 0) throw new Error('etcd: no member endpoints given')
    this.timeoutMs = o.timeoutMs ?? 2500
    this.electionWaitMs = o.electionWaitMs ?? 1000
  }

  /** Where the store is, for messages. */
  get address(): string {
    const scheme = this.o.endpoints[0]!.startsWith('https:') ? 'etcds' : 'etcd'
    return `${scheme}://${this.o.endpoints.map((e) => e.replace(/^https?:\/\//, '')).join(',')}`
  }

  /** The members, starting with the one that answered last. */
  inTurn(): string[] {
    const n = this.o.endpoints.length
    return Array.from({ length: n }, (_, i) => this.o.endpoints[(this.preferred + i) % n]!)
  }

  private answered(member: string): void {
    this.preferred = Math.max(0, this.o.endpoints.indexOf(member))
  }

  /** Move on from a member that failed a stream. */
  rotate(): void {
    this.preferred = (this.preferred + 1) % this.o.endpoints.length
  }

  async headers(member: string, signal?: AbortSignal): Promise<Record<string, string>> {
    const h: Record<string, string> = {
      'content-type': 'application/json',
      'grpc-metadata-hasleader': 'true',
    }
    if (this.o.auth) h.authorization = await this.o.auth.token(member, this.fetchOpts(signal))
    return h
  }

  fetchOpts(signal?: AbortSignal): RequestInit {
    return { signal, ...(this.o.tls ? { tls: this.o.tls } : {}) } as RequestInit
  }

  /**
   * One unary call, tried on each member in turn. A read goes on to the next member after any
   * failure; a write only while it was surely not applied. Errors etcd answers that are not
   * about reachability (a lease not found, bad input) are thrown as EtcdServerError.
   */
  async call<T = any>(path: string, body: unknown, opts: CallOptions = {}): Promise<T> {
    const started = Date.now()
    for (;;) {
      const failures: Failure[] = []
      for (const member of this.inTurn()) {
        let f: Failure
        try {
          const r = await this.once<T>(member, path, body, opts.signal)
          this.answered(member)
          return r
        } catch (e) {
          if (opts.signal?.aborted) throw e
          if (!(e instanceof MemberFailure)) throw e
          f = e.failure
        }
        failures.push(f)
        if (f.maybeApplied)
          this.preferred = (this.o.endpoints.indexOf(member) + 1) % this.o.endpoints.length
        if (opts.write && f.maybeApplied) {
          throw new OutcomeUnknownError(
            `store unreachable at ${this.address}: ${f.member.replace(/^https?:\/\//, '')}: ${f.why}; the write may or may not have been applied`,
          )
        }
      }
      // "no leader" from a member that sees its peers is most often an election: a write waits
      // it out briefly (a lost quorum still answers well within 2 s); a read fails at once, so
      // the agent answers it from its mirror instead
      const electing = opts.write && failures.some((f) => /no leader/i.test(f.why))
      if (electing && Date.now() - started + ELECTION_PAUSE_MS < this.electionWaitMs) {
        await pause(ELECTION_PAUSE_MS, opts.signal)
        continue
      }
      const why = failures
        .map((f) => `${f.member.replace(/^https?:\/\//, '')}: ${f.why}`)
        .join('; ')
      throw new StoreUnreachableError(
        `store unreachable at ${this.address} (${why}); writes fail until this host reaches a quorum of the etcd members (existing traffic keeps flowing)`,
      )
    }
  }

  /** One call to one member, no other tried (the watch's probe of the member it follows). */
  callMember<T = any>(
    member: string,
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<T> {
    return this.once<T>(member, path, body, signal)
  }

  /** Drop the member's auth token: the next request authenticates again (a watch stream etcd ended). */
  forgetAuth(member: string): void {
    this.o.auth?.forget(member)
  }

  private async once<T>(
    member: string,
    path: string,
    body: unknown,
    signal?: AbortSignal,
    reauthenticated = false,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout
    let res: Response
    let text: string
    try {
      const headers = await this.headers(member, both)
      res = await fetch(`${member}${path}`, {
        ...this.fetchOpts(both),
        method: 'POST',
        headers,
        body: JSON.stringify(body),
      })
      text = await res.text()
    } catch (e) {
      if (signal?.aborted) throw e
      if (e instanceof EtcdServerError) throw e
      const code = (e as { code?: unknown }).code
      const tlsFailed = typeof code === 'string' && TLS_FAILURE.test(code)
      const notSent = typeof code === 'string' && (NOT_SENT.has(code) || tlsFailed)
      const why = timeout.aborted
        ? `no answer within ${this.timeoutMs} ms`
        : tlsFailed
          ? `its certificate does not verify against ${this.o.tls?.ca ? 'the given CA (--store-ca)' : "the system's CAs"}, or it refused ours (${code})`
          : `${e instanceof Error ? e.message : String(e)}${code ? ` (${code})` : ''}`
      throw new MemberFailure({ member, why, maybeApplied: !notSent })
    }
    let reply: any
    try {
      reply = JSON.parse(text)
    } catch {
      throw new MemberFailure({
        member,
        why: `HTTP ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`,
        maybeApplied: res.status >= 500,
      })
    }
    if (res.ok && reply.error === undefined) return reply as T
    // unary calls answer {error, code, message}; streamed ones {error: {grpc_code, message}}
    const err = typeof reply.error === 'object' && reply.error !== null ? reply.error : reply
    const message = String(err.message ?? err.error ?? `HTTP ${res.status}`)
    const grpcCode = Number(err.code ?? err.grpc_code ?? 0)
    if (grpcCode === 16 && this.o.auth && !reauthenticated) {
      // etcd's tokens expire (--auth-token-ttl): refused before it was applied, so send it again
      this.o.auth.forget(member)
      return this.once<T>(member, path, body, signal, true)
    }
    // Unavailable / deadline exceeded / internal: a reachability problem, applied or not
    if (grpcCode === 14 || grpcCode === 4 || grpcCode === 13 || grpcCode === 1) {
      throw new MemberFailure({ member, why: message, maybeApplied: !NOT_APPLIED.test(message) })
    }
    throw new EtcdServerError(member.replace(/^https?:\/\//, ''), path, grpcCode, message)
  }
}

const ELECTION_PAUSE_MS = 200

function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })
}

class MemberFailure extends Error {
  constructor(readonly failure: Failure) {
    super(`${failure.member}: ${failure.why}`)
  }
}

// --- encoding ---

export const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64')
export const unb64 = (s: string | undefined): string =>
  s ? Buffer.from(s, 'base64').toString('utf8') : ''

/** The range_end that makes a range cover every key starting with `prefix`. */
export function prefixEnd(prefix: string): string {
  const bytes = Buffer.from(prefix, 'utf8')
  for (let i = bytes.length - 1; i >= 0; i--) {
    if (bytes[i]! < 0xff) {
      const end = Buffer.from(bytes.subarray(0, i + 1))
      end[i] = end[i]! + 1
      return end.toString('base64')
    }
  }
  return Buffer.from([0]).toString('base64') // every key
}

/** etcd's int64s arrive as decimal strings, and are left out when 0. */
export const rev = (v: string | number | undefined): bigint => (v === undefined ? 0n : BigInt(v))
