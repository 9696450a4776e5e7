// A stub resolver for tests and benches: a UDP socket created inside a sandbox's netns (by
// this process: Bun.udpSocket binds synchronously, so entering the netns for that one call is
// enough), asking the sandbox's resolver address what a program in the sandbox would ask.
import { withNetns } from '../../src/sys/index.ts'
import {
  encodeQuery,
  parseAnswer,
  RCODE_NAME,
  TYPE,
  type ParsedAnswer,
} from '../../src/dns/index.ts'

export interface Reply {
  /** NOERROR, NXDOMAIN, SERVFAIL…, "timeout" when nothing came back, "unsent (CODE)" when it could not be sent. */
  rcode: string
  /** A records' addresses (or PTR names), in answer order. */
  data: string[]
  ttls: number[]
  /** Round trip in milliseconds. */
  ms: number
  raw?: ParsedAnswer
}

export interface DnsClient {
  query(name: string, type?: number, timeoutMs?: number): Promise<Reply>
  close(): void
}

type Waiter = { resolve: (r: Reply) => void; timer: ReturnType<typeof setTimeout>; sent: number }

export async function dnsClientIn(
  nsPath: string,
  server = '127.0.0.11',
  port = 53,
): Promise<DnsClient> {
  const waiting = new Map<number, Waiter>()
  let sock!: Promise<import('bun').udp.Socket<'buffer'>>
  withNetns(nsPath, () => {
    sock = Bun.udpSocket<'buffer'>({
      socket: {
        data(_s, buf) {
          const msg = new Uint8Array(buf)
          const a = parseAnswer(msg)
          const w = waiting.get(a.id)
          if (!w) return
          waiting.delete(a.id)
          clearTimeout(w.timer)
          w.resolve({
            rcode: RCODE_NAME[a.rcode] ?? String(a.rcode),
            data: a.answers
              .filter((r) => r.type === TYPE.A || r.type === TYPE.PTR)
              .map((r) => r.data),
            ttls: a.answers.map((r) => r.ttl),
            ms: performance.now() - w.sent,
            raw: a,
          })
        },
        // ICMP port unreachable (no resolver listening): the query times out instead
        error() {},
      },
    })
  })
  const s = await sock
  let next = 1
  return {
    query(name, type = TYPE.A, timeoutMs = 1000) {
      let id = next++ & 0xffff
      while (waiting.has(id)) id = next++ & 0xffff
      return new Promise<Reply>((resolve) => {
        const sent = performance.now()
        const timer = setTimeout(() => {
          waiting.delete(id)
          resolve({ rcode: 'timeout', data: [], ttls: [], ms: performance.now() - sent })
        }, timeoutMs)
        waiting.set(id, { resolve, timer, sent })
        try {
          s.send(encodeQuery(id, name, type), port, server)
        } catch (e) {
          // e.g. ENETUNREACH while the sandbox's lo is down
          clearTimeout(timer)
          waiting.delete(id)
          resolve({
            rcode: `unsent (${(e as { code?: string }).code ?? (e as Error).message})`,
            data: [],
            ttls: [],
            ms: performance.now() - sent,
          })
        }
      })
    },
    close() {
      for (const w of waiting.values()) clearTimeout(w.timer)
      waiting.clear()
      s.close()
    },
  }
}

/** One query over TCP from inside the sandbox (Bun.connect creates its socket synchronously). */
export async function tcpQueryIn(
  nsPath: string,
  name: string,
  type: number = TYPE.A,
  server = '127.0.0.11',
  port = 53,
): Promise<ParsedAnswer> {
  const q = encodeQuery(0x4242, name, type)
  const framed = new Uint8Array(2 + q.length)
  framed[0] = q.length >> 8
  framed[1] = q.length & 0xff
  framed.set(q, 2)
  return new Promise<ParsedAnswer>((resolve, reject) => {
    let buf = new Uint8Array(0)
    const timer = setTimeout(
      () => reject(new Error(`TCP query for ${name}: no answer in 3 s`)),
      3000,
    )
    withNetns(nsPath, () => {
      Bun.connect({
        hostname: server,
        port,
        socket: {
          open(sock) {
            sock.write(framed)
          },
          data(sock, chunk) {
            const joined = new Uint8Array(buf.length + chunk.length)
            joined.set(buf)
            joined.set(chunk, buf.length)
            buf = joined
            const len = buf.length >= 2 ? (buf[0]! << 8) | buf[1]! : -1
            if (len >= 0 && buf.length >= 2 + len) {
              clearTimeout(timer)
              sock.end()
              resolve(parseAnswer(buf.subarray(2, 2 + len)))
            }
          },
          error(_sock, e) {
            clearTimeout(timer)
            reject(e)
          },
        },
      }).catch((e) => {
        clearTimeout(timer)
        reject(e)
      })
    })
  })
}
