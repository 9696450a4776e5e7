// The prober's one UDP socket in the host namespace, through libc (bun:ffi): Bun's own UDP
// sockets cannot set IP_MTU_DISCOVER or read receive timestamps, and path-MTU probes need
// both. Non-blocking: the prober drains it when replies are due; the kernel's receive
// timestamp (SO_TIMESTAMPNS), not the drain time, ends a round trip.
//
// - IP_PMTUDISC_PROBE: every probe leaves with DF set and is never fragmented locally, whatever
//   the route's cached PMTU says; one larger than the local MTU fails with EMSGSIZE.
// - Bound to the advertise address: replies come back to it (peers admit us by that address).
import { dlopen, ptr, read } from 'bun:ffi'
import { errnoName } from '../sys/errno.ts'
import { ipv4Bytes, ipv4FromBytes, VXLAN_PORT } from '../net/index.ts'

export interface Received {
  from: string
  data: Uint8Array
  /** CLOCK_REALTIME ns when the kernel received it. */
  rxNs: bigint
}

export interface ProbeSocket {
  /** Send to `vtep`:4789; 'too-big' when the local MTU refuses it (EMSGSIZE). Throws on other errors. */
  send(vtep: string, data: Uint8Array): 'sent' | 'too-big'
  /** Every datagram waiting now (never blocks). */
  drain(): Received[]
  /** CLOCK_REALTIME ns: the clock receive timestamps use. */
  nowNs(): bigint
  close(): void
}

const AF_INET = 2
const SOCK_DGRAM = 2
const SOCK_NONBLOCK = 0o4000
const SOCK_CLOEXEC = 0o2000000
const SOL_SOCKET = 1
const SO_TIMESTAMPNS = 35
const SCM_TIMESTAMPNS = SO_TIMESTAMPNS
const IPPROTO_IP = 0
const IP_MTU_DISCOVER = 10
const IP_PMTUDISC_PROBE = 3
const MSG_DONTWAIT = 0x40
const EAGAIN = 11
const EMSGSIZE = 90
const CLOCK_REALTIME = 0

function openLibc() {
  return dlopen('libc.so.6', {
    socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
    bind: { args: ['i32', 'ptr', 'u32'], returns: 'i32' },
    setsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'u32'], returns: 'i32' },
    sendto: { args: ['i32', 'ptr', 'usize', 'i32', 'ptr', 'u32'], returns: 'i64' },
    recvmsg: { args: ['i32', 'ptr', 'i32'], returns: 'i64' },
    close: { args: ['i32'], returns: 'i32' },
    clock_gettime: { args: ['i32', 'ptr'], returns: 'i32' },
    __errno_location: { args: [], returns: 'ptr' },
  }).symbols
}

let libc: ReturnType<typeof openLibc> | undefined

/** struct sockaddr_in for `ip`:`port`. */
function sockaddr(ip: string, port: number): Uint8Array {
  const sa = new Uint8Array(16)
  const v = new DataView(sa.buffer)
  v.setUint16(0, AF_INET, true)
  v.setUint16(2, port, false)
  sa.set(ipv4Bytes(ip), 4)
  return sa
}

export function openProbeSocket(bindAddress: string): ProbeSocket {
  const c = (libc ??= openLibc())
  const errno = () => {
    const loc = c.__errno_location()
    return loc === null ? 0 : read.i32(loc)
  }
  const fail = (what: string): never => {
    throw new Error(`probe socket: ${what} failed (${errnoName(errno())})`)
  }
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
  if (fd < 0) fail('socket')
  const setInt = (level: number, name: number, value: number, what: string) => {
    if (c.setsockopt(fd, level, name, new Int32Array([value]), 4) < 0) fail(what)
  }
  try {
    setInt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE, 'IP_MTU_DISCOVER')
    setInt(SOL_SOCKET, SO_TIMESTAMPNS, 1, 'SO_TIMESTAMPNS')
    if (c.bind(fd, sockaddr(bindAddress, 0), 16) < 0) fail(`bind ${bindAddress}`)
  } catch (e) {
    c.close(fd)
    throw e
  }

  // recvmsg buffers, reused: struct msghdr (56 bytes on x86_64/arm64), one iovec, a cmsg area
  const buf = new Uint8Array(65536)
  const name = new Uint8Array(16)
  const control = new Uint8Array(64)
  const iov = new BigUint64Array([BigInt(ptr(buf)), BigInt(buf.length)])
  const msg = new BigUint64Array(7)
  const msgView = new DataView(msg.buffer)
  const ts = new BigInt64Array(2)
  const nowNs = () => {
    c.clock_gettime(CLOCK_REALTIME, ts)
    return ts[0]! * 1_000_000_000n + ts[1]!
  }
  let closed = false

  return {
    send(vtep, data) {
      const n = c.sendto(fd, data, data.byteLength, 0, sockaddr(vtep, VXLAN_PORT), 16)
      if (n >= 0) return 'sent'
      const e = errno()
      if (e === EMSGSIZE) return 'too-big'
      if (e === EAGAIN) return 'sent' // send buffer full: counts as a lost probe, as on the wire
      throw new Error(`probe socket: sendto ${vtep} failed (${errnoName(e)})`)
    },
    drain() {
      const out: Received[] = []
      for (;;) {
        msg[0] = BigInt(ptr(name))
        msgView.setUint32(8, 16, true)
        msg[2] = BigInt(ptr(iov))
        msg[3] = 1n
        msg[4] = BigInt(ptr(control))
        msg[5] = BigInt(control.length)
        msg[6] = 0n
        const n = Number(c.recvmsg(fd, msg, MSG_DONTWAIT))
        if (n < 0) {
          const e = errno()
          if (e === EAGAIN) return out
          throw new Error(`probe socket: recvmsg failed (${errnoName(e)})`)
        }
        out.push({
          from: ipv4FromBytes(name.subarray(4, 8)),
          data: buf.slice(0, n),
          rxNs: rxTimestamp(control, Number(msg[5])) ?? nowNs(),
        })
      }
    },
    nowNs,
    close() {
      if (closed) return
      closed = true
      c.close(fd)
    },
  }
}

/** The SCM_TIMESTAMPNS of a cmsg area (`len` bytes used), as ns. */
function rxTimestamp(control: Uint8Array, len: number): bigint | undefined {
  const v = new DataView(control.buffer, control.byteOffset, control.byteLength)
  for (let off = 0; off + 16 <= len;) {
    const cmsgLen = Number(v.getBigUint64(off, true))
    if (cmsgLen < 16) return undefined
    if (
      v.getInt32(off + 8, true) === SOL_SOCKET &&
      v.getInt32(off + 12, true) === SCM_TIMESTAMPNS &&
      off + 32 <= len
    ) {
      return v.getBigInt64(off + 16, true) * 1_000_000_000n + v.getBigInt64(off + 24, true)
    }
    off += (cmsgLen + 7) & ~7
  }
  return undefined
}
