// The prober's one UDP socket in the host namespace, through libc (src/sys): Bun's own UDP
// sockets cannot set IP_MTU_DISCOVER or read receive timestamps, and path-MTU probes need
// both. Non-blocking: the prober drains it when replies are due; the kernel's receive
// timestamp (SO_TIMESTAMPNS), not the drain time, ends a round trip.
//
// - IP_PMTUDISC_PROBE: every probe leaves with DF set and is never fragmented locally, whatever
//   the route's cached PMTU says; one larger than the local MTU fails with EMSGSIZE.
// - Bound to the advertise address: replies come back to it (peers admit us by that address).
import { errnoName, getLibc, type Libc, type RecvMsgBuffers } from '../sys/index.ts'
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

/** The libc calls a probe socket makes. */
export type ProbeSocketLibc = Pick<
  Libc,
  'socket' | 'setsockoptInt' | 'bind' | 'sendTo' | 'recvMsg' | 'clockGettimeNs' | 'errno' | 'close'
>

/** struct sockaddr_in for `ip`:`port`. */
function sockaddr(ip: string, port: number): Uint8Array {
  const sa = new Uint8Array(16)
  const v = new DataView(sa.buffer)
  v.setUint16(0, AF_INET, true)
  v.setUint16(2, port, false)
  sa.set(ipv4Bytes(ip), 4)
  return sa
}

export function openProbeSocket(bindAddress: string, c: ProbeSocketLibc = getLibc()): ProbeSocket {
  const fail = (what: string): never => {
    throw new Error(`probe socket: ${what} failed (${errnoName(c.errno())})`)
  }
  const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)
  if (fd < 0) fail('socket')
  const setInt = (level: number, name: number, value: number, what: string) => {
    if (c.setsockoptInt(fd, level, name, value) < 0) fail(what)
  }
  try {
    setInt(IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE, 'IP_MTU_DISCOVER')
    setInt(SOL_SOCKET, SO_TIMESTAMPNS, 1, 'SO_TIMESTAMPNS')
    if (c.bind(fd, sockaddr(bindAddress, 0)) < 0) fail(`bind ${bindAddress}`)
  } catch (e) {
    c.close(fd)
    throw e
  }

  // recvmsg buffers, reused
  const rx: RecvMsgBuffers = {
    data: new Uint8Array(65536),
    name: new Uint8Array(16),
    control: new Uint8Array(64),
    controlLen: 0,
  }
  const nowNs = () => c.clockGettimeNs(CLOCK_REALTIME)
  let closed = false

  return {
    send(vtep, data) {
      const n = c.sendTo(fd, data, sockaddr(vtep, VXLAN_PORT))
      if (n >= 0) return 'sent'
      const e = c.errno()
      if (e === EMSGSIZE) return 'too-big'
      if (e === EAGAIN) return 'sent' // send buffer full: counts as a lost probe, as on the wire
      throw new Error(`probe socket: sendto ${vtep} failed (${errnoName(e)})`)
    },
    drain() {
      const out: Received[] = []
      for (;;) {
        const n = c.recvMsg(fd, rx, MSG_DONTWAIT)
        if (n < 0) {
          const e = c.errno()
          if (e === EAGAIN) return out
          throw new Error(`probe socket: recvmsg failed (${errnoName(e)})`)
        }
        out.push({
          from: ipv4FromBytes(rx.name.subarray(4, 8)),
          data: rx.data.slice(0, n),
          rxNs: rxTimestamp(rx.control, rx.controlLen) ?? nowNs(),
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
