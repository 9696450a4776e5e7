// The rtnetlink socket's request/answer logic against a fake libc (no root, no kernel): the
// options it sets, matching answers by seq, errors with the kernel's words, dumps spread over
// several datagrams, and a lost answer failing instead of waiting.
import { describe, expect, test } from 'bun:test'
import { NetlinkError, RtnlSocket } from '../../src/net/netlink.ts'
import {
  AF_INET,
  ifaddrmsg,
  IFA_LOCAL,
  ifinfomsg,
  IFLA_IFNAME,
  NetlinkMessage,
  NLM_F_MULTI,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from '../../src/net/netlink-message.ts'
import { ack, concat, done, fakeLibc, message } from './netlink-fake-libc.ts'

function caught(fn: () => unknown): NetlinkError {
  try {
    fn()
  } catch (e) {
    return e as NetlinkError
  }
  throw new Error('expected a NetlinkError, got none')
}

/** An answer message (same seq as the request) whose body is a kernel RTM_NEWLINK/NEWADDR. */
const answer =
  (built: NetlinkMessage, flags = 0) =>
  (req: Uint8Array) => {
    const b = built.bytes(0)
    return message(built.type, flags, req, b.subarray(16))
  }

describe('RtnlSocket with a fake libc', () => {
  test('opening sets the receive timeout (default 5 s), CAP_ACK and EXT_ACK', () => {
    const libc = fakeLibc()
    RtnlSocket.open(undefined, { libc }).close()
    expect(libc.options).toEqual([
      [1, 20, 5000],
      [270, 10, 1],
      [270, 11, 1],
    ])
    const quick = fakeLibc()
    expect(RtnlSocket.open(undefined, { libc: quick, timeoutMs: 250 }).timeoutMs).toBe(250)
    expect(quick.options[0]).toEqual([1, 20, 250])
    expect(() => RtnlSocket.open(undefined, { libc: quick, timeoutMs: 0 })).toThrow(RangeError)
  })

  test('a request is answered by the ACK with its own seq; answers to earlier requests are skipped', () => {
    const libc = fakeLibc()
    const s = RtnlSocket.open(undefined, { libc })
    libc.script.push([ack])
    s.setLink('eth0', { up: true })
    // a late answer to request 1 arrives before the ACK of request 2
    const first = libc.sent[0]!
    libc.script.push([() => ack(first, 22), ack])
    s.setLink('eth0', { mtu: 1400 })
    expect(libc.sent.map((r) => new DataView(r.buffer).getUint32(8, true))).toEqual([1, 2])
    expect(libc.queue).toEqual([])
  })

  test('a refusal names the step, the kernel message (or the errno text) and the errno', () => {
    const libc = fakeLibc()
    const s = RtnlSocket.open(undefined, { libc })
    libc.script.push([(req) => ack(req, 22, 'Invalid MTU specified')])
    const e = caught(() => s.setLink('eth0', { mtu: 1 }))
    expect(e).toBeInstanceOf(NetlinkError)
    expect(e.message).toBe('configure eth0: Invalid MTU specified (EINVAL)')
    expect(e.code).toBe('netlink_failed')
    libc.script.push([(req) => ack(req, 1)])
    expect(caught(() => s.setLink(3, {})).message).toBe('configure ifindex 3: strerror(1) (EPERM)')
    expect(e.within('create endpoint wf1').message).toBe(
      'create endpoint wf1: configure eth0: Invalid MTU specified (EINVAL)',
    )
  })

  test('missing things are values: getLink ENODEV is undefined, deleteLink ENODEV is false', () => {
    const libc = fakeLibc()
    const s = RtnlSocket.open(undefined, { libc })
    libc.script.push([(req) => ack(req, 19)], [(req) => ack(req, 19)], [(req) => ack(req, 99)])
    expect(s.getLink('eth9')).toBeUndefined()
    expect(s.deleteLink('wf9')).toBe(false)
    expect(s.deleteAddress(3, '10.0.0.1', 24)).toBe(false) // EADDRNOTAVAIL
  })

  test('getLink reads the answer message, then its ACK', () => {
    const libc = fakeLibc()
    const s = RtnlSocket.open(undefined, { libc })
    libc.script.push([
      answer(new NetlinkMessage(RTM_NEWLINK, 0, ifinfomsg({ index: 4 })).str(IFLA_IFNAME, 'eth0')),
      ack,
    ])
    expect(s.getLink('eth0')).toMatchObject({ ifindex: 4, ifname: 'eth0' })
  })

  test('a dump spread over several datagrams is read to NLMSG_DONE and filtered by link', () => {
    const libc = fakeLibc()
    const s = RtnlSocket.open(undefined, { libc })
    const addr = (ifindex: number, ip: number[], len: number) =>
      answer(
        new NetlinkMessage(RTM_NEWADDR, 0, ifaddrmsg(AF_INET, len, ifindex)).attr(
          IFA_LOCAL,
          Uint8Array.from(ip),
        ),
        NLM_F_MULTI,
      )
    libc.script.push([
      (req) => concat(addr(1, [127, 0, 0, 1], 8)(req), addr(3, [10, 0, 1, 2], 24)(req)),
      addr(3, [10, 0, 9, 9], 16),
      done,
    ])
    expect(s.addresses(3)).toEqual([
      { ifindex: 3, ip: '10.0.1.2', prefixLen: 24 },
      { ifindex: 3, ip: '10.0.9.9', prefixLen: 16 },
    ])
    libc.script.push([(req) => message(3, NLM_F_MULTI, req, Uint8Array.of(0xf3, 0xff, 0xff, 0xff))]) // DONE carrying -13
    expect(caught(() => s.addresses()).message).toBe('list addresses: strerror(13) (EACCES)')
  })

  test('a lost answer fails the request (recv times out: EAGAIN) instead of waiting; later requests work', () => {
    const libc = fakeLibc()
    const s = RtnlSocket.open(undefined, { libc, timeoutMs: 300 })
    libc.script.push([() => 'lost'])
    const e = caught(() => s.getLink('lo'))
    expect(e.code).toBe('netlink_timeout')
    expect(e.message).toBe('read link lo: no answer from the kernel within 300 ms (EAGAIN)')
    libc.script.push([ack])
    expect(s.deleteLink('wf1')).toBe(true)
  })

  test('a closed socket refuses requests without sending', () => {
    const libc = fakeLibc()
    const s = RtnlSocket.open(undefined, { libc })
    s.close()
    s.close() // idempotent
    expect(caught(() => s.deleteLink('wf1')).message).toBe(
      'delete link wf1: the rtnetlink socket is closed (EBADF)',
    )
    expect(libc.sent).toEqual([])
  })
})
