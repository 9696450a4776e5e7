// Forwarding of names outside the overlay to the resolvers the host itself uses (the
// nameserver lines of the agent's resolv.conf, re-read when the file changes). Queries go
// out from the agent's own namespace, byte for byte; only the ID is mapped, so a client's
// EDNS, DO bit and truncation rules are the upstream's business.
import { readFileSync, statSync } from 'node:fs'
import { messageId, withId } from './codec.ts'
import { UpstreamError } from './errors.ts'
import type { Logger } from '../log.ts'

/** How long one upstream server gets before the next one is tried. */
const SERVER_TIMEOUT_MS = 2000
const TCP_TIMEOUT_MS = 5000
/** glibc reads at most three nameserver lines; so do we. */
const MAX_SERVERS = 3

export interface ResolvConf {
  nameservers: string[]
  search: string[]
  options: string[]
}

/** Parse resolv.conf(5): nameserver, search/domain and options lines; comments with # or ;. */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], options: [] }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim()
    const [key, ...rest] = line.split(/\s+/)
    if (key === 'nameserver' && rest[0] && out.nameservers.length < MAX_SERVERS)
      out.nameservers.push(rest[0].replace(/%.*$/, ''))
    else if (key === 'search' || key === 'domain') out.search = rest
    else if (key === 'options') out.options.push(...rest)
  }
  return out
}

/** The resolv.conf at `path`, read again only when its mtime or size changed. */
export function resolvConfReader(path: string): () => ResolvConf {
  let seen = ''
  let cached: ResolvConf = { nameservers: [], search: [], options: [] }
  return () => {
    let stamp: string
    try {
      const st = statSync(path)
      stamp = `${st.mtimeMs}:${st.size}:${st.ino}`
    } catch {
      stamp = 'missing'
    }
    if (stamp !== seen) {
      seen = stamp
      try {
        cached = parseResolvConf(readFileSync(path, 'utf8'))
      } catch {
        cached = { nameservers: [], search: [], options: [] }
      }
    }
    return cached
  }
}

type UdpSocket = import('bun').udp.Socket<'buffer'>

interface Pending {
  clientId: number
  servers: string[]
  next: number
  query: Uint8Array
  timer: ReturnType<typeof setTimeout>
  resolve: (answer: Uint8Array) => void
  reject: (e: Error) => void
}

export class Forwarder {
  private socket?: Promise<UdpSocket>
  private readonly pending = new Map<number, Pending>()
  forwarded = 0
  failed = 0

  constructor(
    private readonly servers: () => string[],
    private readonly log: Logger,
  ) {}

  /** Forward a UDP query; the answer carries the client's ID. Rejects when every server failed. */
  async udp(query: Uint8Array): Promise<Uint8Array> {
    const servers = this.servers()
    if (servers.length === 0)
      throw new UpstreamError(
        "no upstream resolver: the agent's resolv.conf lists no IPv4 nameserver",
      )
    const sock = await this.open()
    let id: number
    do id = (Math.random() * 0x10000) | 0
    while (this.pending.has(id))
    this.forwarded++
    return new Promise<Uint8Array>((resolve, reject) => {
      const p: Pending = {
        clientId: messageId(query),
        servers,
        next: 0,
        query: withId(query, id),
        timer: undefined as never,
        resolve,
        reject,
      }
      this.pending.set(id, p)
      this.sendNext(sock, id, p)
    })
  }

  /** Forward a TCP query (two-byte length prefix on the wire, not in `query`). */
  tcp(query: Uint8Array): Promise<Uint8Array> {
    const server = this.servers()[0]
    if (!server)
      return Promise.reject(
        new UpstreamError("no upstream resolver: the agent's resolv.conf lists no IPv4 nameserver"),
      )
    this.forwarded++
    return new Promise<Uint8Array>((resolve, reject) => {
      let buf = new Uint8Array(0)
      const fail = (why: string) => reject(new UpstreamError(`TCP forward to ${server}: ${why}`))
      const timer = setTimeout(() => {
        fail('timed out')
        conn.then(
          (s) => s.end(),
          () => {},
        )
      }, TCP_TIMEOUT_MS)
      const conn = Bun.connect({
        hostname: server,
        port: 53,
        socket: {
          open(s) {
            const framed = new Uint8Array(2 + query.length)
            framed[0] = query.length >> 8
            framed[1] = query.length & 0xff
            framed.set(query, 2)
            s.write(framed)
          },
          data(s, chunk) {
            const joined = new Uint8Array(buf.length + chunk.length)
            joined.set(buf)
            joined.set(chunk, buf.length)
            buf = joined
            if (buf.length >= 2 && buf.length >= 2 + ((buf[0]! << 8) | buf[1]!)) {
              clearTimeout(timer)
              resolve(buf.slice(2, 2 + ((buf[0]! << 8) | buf[1]!)))
              s.end()
            }
          },
          close() {
            clearTimeout(timer)
            fail('connection closed before an answer')
          },
          error(_s, e) {
            clearTimeout(timer)
            fail(e.message)
          },
        },
      })
      conn.catch((e: Error) => {
        clearTimeout(timer)
        fail(e.message)
      })
    }).catch((e) => {
      this.failed++
      throw e
    })
  }

  close(): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer)
      p.reject(new UpstreamError('the agent is stopping'))
      this.pending.delete(id)
    }
    void this.socket?.then((s) => s.close())
    this.socket = undefined
  }

  // --- internal ---

  /** One socket for all forwarded UDP queries, opened in the agent's namespace on first use. */
  private open(): Promise<UdpSocket> {
    this.socket ??= Bun.udpSocket<'buffer'>({
      socket: {
        data: (_s, data, _port, address) => this.onAnswer(new Uint8Array(data), address),
        // ICMP errors (an upstream's port unreachable): the query's timer moves on to the next server
        error: (_s, e) => this.log.debug({ err: e.message }, 'dns: upstream socket error'),
      },
    })
    return this.socket
  }

  private sendNext(sock: UdpSocket, id: number, p: Pending): void {
    const server = p.servers[p.next++]
    if (server === undefined) {
      this.pending.delete(id)
      this.failed++
      p.reject(
        new UpstreamError(
          `no answer from ${p.servers.join(', ')} within ${SERVER_TIMEOUT_MS} ms each`,
        ),
      )
      return
    }
    p.timer = setTimeout(() => this.sendNext(sock, id, p), SERVER_TIMEOUT_MS)
    if (!sock.send(p.query, 53, server))
      this.log.debug({ server }, 'dns: forward send was not queued')
  }

  private onAnswer(msg: Uint8Array, from: string): void {
    if (msg.length < 12) return
    const id = messageId(msg)
    const p = this.pending.get(id)
    // only the server asked last may answer (a spoofed or late answer is dropped)
    if (!p || p.servers[p.next - 1] !== from) return
    clearTimeout(p.timer)
    this.pending.delete(id)
    p.resolve(withId(msg, p.clientId))
  }
}
