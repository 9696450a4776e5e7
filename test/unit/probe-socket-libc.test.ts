// The probe and echo sockets on a fake libc (src/sys's typed seam), no root and no kernel:
// which options they set, where they bind and send, how errno becomes a result or an error,
// and how received datagrams are read. The real sockets run in test/probe/agent-down.test.ts
// and test/doctor/doctor-probes.test.ts (namespaces, real agents).
import { describe, expect, test } from 'bun:test'
import { openEchoSocket, type EchoSocketLibc } from '../../src/probe/echo.ts'
import { openProbeSocket, type ProbeSocketLibc } from '../../src/probe/socket.ts'
import type { RecvMsgBuffers } from '../../src/sys/index.ts'

const FD = 9
const EAGAIN = 11
const EMSGSIZE = 90
const EADDRNOTAVAIL = 99
const EPERM = 1
const ENETUNREACH = 101

/** "ip:port" of a struct sockaddr_in. */
const addrOf = (sa: Uint8Array) => {
  const v = new DataView(sa.buffer, sa.byteOffset, sa.byteLength)
  return `${v.getUint16(0, true)}/${[...sa.subarray(4, 8)].join('.')}:${v.getUint16(2, false)}`
}

interface Calls {
  socket: number[][]
  options: [number, number, number][]
  bound: string[]
  sent: { to: string; data: Uint8Array }[]
  closed: number[]
}

/** A libc with one socket: calls recorded, answers from `o` (errno set on -1). */
function fake(o: {
  socketErrno?: number
  bindErrno?: number
  sendErrno?: number
  received?: ((m: RecvMsgBuffers) => number)[]
  receivedFrom?: ((buf: Uint8Array, from: Uint8Array) => number)[]
}) {
  let errno = 0
  const fail = (e: number) => ((errno = e), -1)
  const calls: Calls = { socket: [], options: [], bound: [], sent: [], closed: [] }
  const libc: ProbeSocketLibc & EchoSocketLibc = {
    socket: (...args) => (calls.socket.push(args), o.socketErrno ? fail(o.socketErrno) : FD),
    setsockoptInt: (_fd, level, name, value) => (calls.options.push([level, name, value]), 0),
    bind: (_fd, addr) => (calls.bound.push(addrOf(addr)), o.bindErrno ? fail(o.bindErrno) : 0),
    sendTo(_fd, data, addr) {
      calls.sent.push({ to: addrOf(addr), data: data.slice() })
      return o.sendErrno ? fail(o.sendErrno) : data.byteLength
    },
    recvMsg: (_fd, m) => o.received?.shift()?.(m) ?? fail(EAGAIN),
    recvFrom: (_fd, buf, _flags, from) => o.receivedFrom?.shift()?.(buf, from) ?? fail(EAGAIN),
    clockGettimeNs: () => 42n,
    errno: () => errno,
    close: (fd) => (calls.closed.push(fd), 0),
  }
  return { libc, calls }
}

const sockaddrIn = (ip: string): Uint8Array => {
  const sa = new Uint8Array(16)
  new DataView(sa.buffer).setUint16(0, 2, true)
  sa.set(ip.split('.').map(Number), 4)
  return sa
}

/** A datagram from `ip`, with an SCM_TIMESTAMPNS of `sec`.`nsec` when given. */
const datagram =
  (ip: string, payload: number[], ts?: [number, number]) =>
  (m: RecvMsgBuffers): number => {
    m.data.set(payload)
    m.name.set(sockaddrIn(ip))
    m.controlLen = 0
    if (ts) {
      const v = new DataView(m.control.buffer, m.control.byteOffset)
      v.setBigUint64(0, 32n, true) // cmsg_len
      v.setInt32(8, 1, true) // SOL_SOCKET
      v.setInt32(12, 35, true) // SCM_TIMESTAMPNS
      v.setBigInt64(16, BigInt(ts[0]), true)
      v.setBigInt64(24, BigInt(ts[1]), true)
      m.controlLen = 32
    }
    return payload.length
  }

describe('probe socket on a fake libc', () => {
  test('a non-blocking UDP socket: DF on every probe, kernel timestamps, bound to the advertise address', () => {
    const { libc, calls } = fake({})
    openProbeSocket('10.0.0.1', libc)
    expect(calls.socket).toEqual([[2, 2 | 0o4000 | 0o2000000, 0]])
    expect(calls.options).toEqual([
      [0, 10, 3], // IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE
      [1, 35, 1], // SOL_SOCKET, SO_TIMESTAMPNS
    ])
    expect(calls.bound).toEqual(['2/10.0.0.1:0'])
  })

  test('a bind that fails names errno and closes the socket', () => {
    const { libc, calls } = fake({ bindErrno: EADDRNOTAVAIL })
    expect(() => openProbeSocket('10.0.0.9', libc)).toThrow(
      'probe socket: bind 10.0.0.9 failed (EADDRNOTAVAIL)',
    )
    expect(calls.closed).toEqual([FD])
  })

  test('send goes to the VTEP on 4789; EMSGSIZE is too-big, EAGAIN a lost probe, others throw', () => {
    const data = new Uint8Array([1, 2, 3])
    const ok = fake({})
    expect(openProbeSocket('10.0.0.1', ok.libc).send('10.0.0.2', data)).toBe('sent')
    expect(ok.calls.sent).toEqual([{ to: '2/10.0.0.2:4789', data }])
    expect(
      openProbeSocket('10.0.0.1', fake({ sendErrno: EMSGSIZE }).libc).send('10.0.0.2', data),
    ).toBe('too-big')
    expect(
      openProbeSocket('10.0.0.1', fake({ sendErrno: EAGAIN }).libc).send('10.0.0.2', data),
    ).toBe('sent')
    expect(() =>
      openProbeSocket('10.0.0.1', fake({ sendErrno: ENETUNREACH }).libc).send('10.0.0.2', data),
    ).toThrow('probe socket: sendto 10.0.0.2 failed (errno 101)')
  })

  test("drain reads until EAGAIN: sender, payload, the kernel's receive time (else now)", () => {
    const { libc } = fake({
      received: [datagram('10.0.0.2', [7, 7], [5, 9]), datagram('10.0.0.3', [8])],
    })
    const s = openProbeSocket('10.0.0.1', libc)
    expect(s.drain()).toEqual([
      { from: '10.0.0.2', data: new Uint8Array([7, 7]), rxNs: 5_000_000_009n },
      { from: '10.0.0.3', data: new Uint8Array([8]), rxNs: 42n },
    ])
    expect(s.drain()).toEqual([])
    expect(s.nowNs()).toBe(42n)
  })

  test('close closes the fd once', () => {
    const { libc, calls } = fake({})
    const s = openProbeSocket('10.0.0.1', libc)
    s.close()
    s.close()
    expect(calls.closed).toEqual([FD])
  })
})

describe('ICMP echo socket on a fake libc', () => {
  test('without CAP_NET_RAW the error says so', () => {
    expect(() => openEchoSocket('10.0.0.1', fake({ socketErrno: EPERM }).libc)).toThrow(
      'ICMP echo socket: socket failed (EPERM): the agent needs CAP_NET_RAW',
    )
  })

  test('a raw ICMP socket that keeps only echo replies, bound to the advertise address', () => {
    const { libc, calls } = fake({})
    openEchoSocket('10.0.0.1', libc)
    expect(calls.socket).toEqual([[2, 3 | 0o4000 | 0o2000000, 1]])
    // SOL_RAW, ICMP_FILTER, every type's bit set but echo reply's (0xfffffffe as an int)
    expect(calls.options).toEqual([[255, 1, ~1]])
    expect(calls.bound).toEqual(['2/10.0.0.1:0'])
  })

  test('drain keeps echo replies to its own id and tells who answered which seq', () => {
    const reply = (ip: string, id: number, seq: number) => (buf: Uint8Array, from: Uint8Array) => {
      const pkt = new Uint8Array(28)
      pkt[0] = 0x45 // IPv4, 20-byte header
      pkt[9] = 1 // ICMP
      const v = new DataView(pkt.buffer)
      v.setUint16(24, id, false)
      v.setUint16(26, seq, false) // type 0: echo reply
      buf.set(pkt)
      from.set(sockaddrIn(ip))
      return pkt.length
    }
    const replies: ((buf: Uint8Array, from: Uint8Array) => number)[] = []
    const { libc, calls } = fake({ receivedFrom: replies })
    const s = openEchoSocket('10.0.0.1', libc)
    s.send('10.0.0.2', 3)
    const sent = calls.sent[0]!
    expect(sent.to).toBe('2/10.0.0.2:0')
    const id = new DataView(sent.data.buffer).getUint16(4, false)
    replies.push(reply('10.0.0.2', id, 3), reply('10.0.0.4', id ^ 1, 3))
    expect(s.drain()).toEqual([{ from: '10.0.0.2', seq: 3 }])
  })
})
