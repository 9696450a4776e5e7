// A resolver address inside a sandbox: UDP and TCP sockets on 127.0.0.11:53 in the
// sandbox's network namespace, served by the agent's event loop (as Docker's embedded DNS).
// A socket belongs to the netns its creator's thread was in at socket(): Bun.udpSocket and
// Bun.listen create and bind synchronously, so the thread enters the sandbox for those two
// calls only (withNetns) and everything else runs in the agent's own namespace.
//
// A socket holds its netns alive: the listener must be closed when the sandbox's last
// endpoint goes, or when the sandbox's netns file disappears (the service watches for that).
import { withNetns } from '../sys/index.ts'
import { RtnlSocket } from '../net/index.ts'
import { ListenError } from './errors.ts'

export const LISTEN_ADDRESS = '127.0.0.11'
export const DNS_PORT = 53
/** An idle TCP client is dropped after this long (RFC 7766 suggests seconds). */
const TCP_IDLE_S = 10

export interface QueryHandlers {
  /** A UDP query; `reply` sends the answer back to its client. */
  udp(msg: Uint8Array, reply: (answer: Uint8Array) => void): void
  /** A TCP query (without its length prefix); resolves with the answer. */
  tcp(msg: Uint8Array): Promise<Uint8Array>
}

export interface SandboxListener {
  close(): void
}

/** Bring `lo` up in the sandbox (127.0.0.0/8 is local only then) and listen there. */
export async function listenInSandbox(
  path: string,
  handlers: QueryHandlers,
  port = DNS_PORT,
  address = LISTEN_ADDRESS,
): Promise<SandboxListener> {
  let udp: Promise<import('bun').udp.Socket<'buffer'>> | undefined
  let tcp: import('bun').TCPSocketListener<{ buf: Uint8Array }> | undefined
  try {
    const rtnl = RtnlSocket.open(path)
    try {
      const lo = rtnl.getLink('lo')
      if (lo && !lo.up) rtnl.setLink('lo', { up: true })
    } finally {
      rtnl.close()
    }
    withNetns(path, () => {
      udp = Bun.udpSocket<'buffer'>({
        hostname: address,
        port,
        socket: {
          data(s, data, clientPort, clientAddress) {
            handlers.udp(new Uint8Array(data), (answer) => {
              // a forwarded answer may come back after the listener closed (last disconnect)
              if (!s.closed) s.send(answer, clientPort, clientAddress)
            })
          },
          // an ICMP error for an answer whose client left (port unreachable): nothing to do,
          // but unhandled it would be thrown from the event loop
          error() {},
        },
      })
      tcp = Bun.listen<{ buf: Uint8Array }>({
        hostname: address,
        port,
        socket: {
          open(s) {
            s.data = { buf: new Uint8Array(0) }
            s.timeout(TCP_IDLE_S)
          },
          data(s, chunk) {
            const joined = new Uint8Array(s.data.buf.length + chunk.length)
            joined.set(s.data.buf)
            joined.set(chunk, s.data.buf.length)
            let buf = joined
            // a TCP stream may carry several length-prefixed queries, or part of one
            while (buf.length >= 2 && buf.length >= 2 + ((buf[0]! << 8) | buf[1]!)) {
              const len = (buf[0]! << 8) | buf[1]!
              const msg = buf.slice(2, 2 + len)
              buf = buf.subarray(2 + len)
              void handlers.tcp(msg).then(
                (answer) => {
                  if (s.readyState <= 0) return // the client or the listener went meanwhile
                  const framed = new Uint8Array(2 + answer.length)
                  framed[0] = answer.length >> 8
                  framed[1] = answer.length & 0xff
                  framed.set(answer, 2)
                  s.write(framed)
                },
                () => s.end(),
              )
            }
            s.data.buf = buf
          },
          timeout(s) {
            s.end()
          },
        },
      })
    })
    const u = await udp!
    const t = tcp!
    return {
      close() {
        u.close()
        t.stop(true)
      },
    }
  } catch (e) {
    void udp?.then(
      (s) => s.close(),
      () => {},
    )
    tcp?.stop(true)
    const why = (e as Error).message
    const hint = /in use|EADDRINUSE/i.test(why)
      ? ` (another resolver listens there already: Docker's, or a second weft agent?)`
      : ''
    throw new ListenError(`listen on ${address}:${port} in sandbox ${path}: ${why}${hint}`, e)
  }
}
