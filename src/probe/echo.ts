// ICMP echo to a peer's VTEP, for when its probes go unanswered: an echo that comes back while
// VXLAN probes do not says the host is there and UDP 4789 is what is lost (filtered on the way),
// not the host. A raw ICMP socket through libc (src/sys), bound to the advertise address like
// the probe socket, non-blocking, drained by the prober.
//
// - Raw, not a ping socket (SOCK_DGRAM/IPPROTO_ICMP): ping sockets need the namespace's
//   net.ipv4.ping_group_range to admit the agent's group (by default it admits nobody, root
//   included), and weft does not change sysctls to diagnose. The agent has CAP_NET_RAW.
// - A raw socket sees every ICMP packet of the namespace: the kernel's ICMP_FILTER keeps only
//   echo replies, and of those ours are told by the echo id (this socket's, random) and sender.
import { randomInt } from 'node:crypto'
import { errnoName, getLibc, type Libc } from '../sys/index.ts'
import { ipv4Bytes, ipv4FromBytes } from '../net/index.ts'

export interface EchoSocket {
  /** Send an echo request with `seq` to `ip`; throws when it cannot be sent (no route, link down). */
  send(ip: string, seq: number): void
  /** Echo replies to this socket's requests waiting now: who answered which seq (never blocks). */
  drain(): { from: string; seq: number }[]
  close(): void
}

const AF_INET = 2
const SOCK_RAW = 3
const SOCK_NONBLOCK = 0o4000
const SOCK_CLOEXEC = 0o2000000
const IPPROTO_ICMP = 1
const SOL_RAW = 255
const ICMP_FILTER = 1
const MSG_DONTWAIT = 0x40
const EAGAIN = 11
const ICMP_ECHO_REPLY = 0
const ICMP_ECHO = 8

/** The libc calls an echo socket makes. */
export type EchoSocketLibc = Pick<
  Libc,
  'socket' | 'setsockoptInt' | 'bind' | 'sendTo' | 'recvFrom' | 'errno' | 'close'
>

function sockaddr(ip: string): Uint8Array {
  const sa = new Uint8Array(16)
  new DataView(sa.buffer).setUint16(0, AF_INET, true)
  sa.set(ipv4Bytes(ip), 4)
  return sa
}

/** The Internet checksum (RFC 1071) of `b`. */
export function inetChecksum(b: Uint8Array): number {
  let sum = 0
  for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!
  if (b.length % 2) sum += b[b.length - 1]! << 8
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16)
  return ~sum & 0xffff
}

/** An echo request: type 8, id, seq, 8 bytes of payload, checksummed. */
export function echoRequest(id: number, seq: number): Uint8Array {
  const b = new Uint8Array(16)
  const v = new DataView(b.buffer)
  b[0] = ICMP_ECHO
  v.setUint16(4, id, false)
  v.setUint16(6, seq & 0xffff, false)
  b.set(new TextEncoder().encode('weftecho'), 8)
  v.setUint16(2, inetChecksum(b), false)
  return b
}

/** The seq of an echo reply with `id` in a raw IPv4 packet; undefined for anything else. */
export function parseEchoReply(pkt: Uint8Array, id: number): number | undefined {
  if (pkt.length < 20) return undefined
  const ihl = (pkt[0]! & 0x0f) * 4
  if (pkt.length < ihl + 8 || pkt[9] !== IPPROTO_ICMP) return undefined
  const v = new DataView(pkt.buffer, pkt.byteOffset + ihl, pkt.byteLength - ihl)
  if (v.getUint8(0) !== ICMP_ECHO_REPLY || v.getUint16(4, false) !== id) return undefined
  return v.getUint16(6, false)
}

export function openEchoSocket(bindAddress: string, c: EchoSocketLibc = getLibc()): EchoSocket {
  const errno = () => c.errno()
  const fd = c.socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMP)
  if (fd < 0)
    throw new Error(
      `ICMP echo socket: socket failed (${errnoName(errno())}): the agent needs CAP_NET_RAW to ping peers' VTEPs`,
    )
  // a set bit filters that ICMP type out: every type but echo reply (the int's 32 bits are the mask)
  const filter = ~(1 << ICMP_ECHO_REPLY)
  const fail = (what: string): never => {
    const e = errnoName(errno())
    c.close(fd)
    throw new Error(`ICMP echo socket: ${what} failed (${e})`)
  }
  if (c.setsockoptInt(fd, SOL_RAW, ICMP_FILTER, filter) < 0) fail('ICMP_FILTER')
  if (c.bind(fd, sockaddr(bindAddress)) < 0) fail(`bind ${bindAddress}`)
  const id = randomInt(1, 0xffff)
  const buf = new Uint8Array(2048)
  const from = new Uint8Array(16)
  let closed = false
  return {
    send(ip, seq) {
      const req = echoRequest(id, seq)
      if (c.sendTo(fd, req, sockaddr(ip)) < 0)
        throw new Error(`ICMP echo socket: sendto ${ip} failed (${errnoName(errno())})`)
    },
    drain() {
      const out: { from: string; seq: number }[] = []
      for (;;) {
        const n = c.recvFrom(fd, buf, MSG_DONTWAIT, from)
        if (n < 0) {
          const e = errno()
          if (e === EAGAIN) return out
          throw new Error(`ICMP echo socket: recvfrom failed (${errnoName(e)})`)
        }
        const seq = parseEchoReply(buf.subarray(0, n), id)
        if (seq !== undefined) out.push({ from: ipv4FromBytes(from.subarray(4, 8)), seq })
      }
    },
    close() {
      if (closed) return
      closed = true
      c.close(fd)
    },
  }
}
