// A small rtnetlink client for drift detection: dumps (addresses, routes, tc filters) and
// notification sockets (multicast groups), both non-blocking so a lost answer can never stall
// the agent's event loop. Messages are decoded into plain objects by ./rtnl-decode.ts.
//
// Why its own socket (2026-12): src/net/netlink.ts is the plumbing's blocking request socket;
// this one never blocks (a notification socket is read on a timer) and joins multicast groups.
import { getLibc, withNetns, type Libc } from '../sys/index.ts'
import { WeftError } from '../errors/index.ts'

/** The libc calls this file makes (a subset of the syscall seam, so a fake can stand in). */
export type NlSys = Pick<
  Libc,
  'socket' | 'setsockoptInt' | 'send' | 'recv' | 'errno' | 'close' | 'strerror'
>

const AF_NETLINK = 16
const SOCK_RAW = 3
const SOCK_NONBLOCK = 0x800
const SOCK_CLOEXEC = 0x80000
const NETLINK_ROUTE = 0
const SOL_NETLINK = 270
const NETLINK_ADD_MEMBERSHIP = 1
const SOL_SOCKET = 1
const SO_RCVBUF = 8
const NETLINK_GET_STRICT_CHK = 12

export const NLMSG_NOOP = 1
export const NLMSG_ERROR = 2
export const NLMSG_DONE = 3
const NLM_F_REQUEST = 0x1
const NLM_F_ACK = 0x4
const NLM_F_DUMP = 0x300
const EAGAIN = 11
export const ENOBUFS = 105

/** rtnetlink multicast groups (RTNLGRP_*). */
export const Group = { LINK: 1, NEIGH: 3, TC: 4, IPV4_IFADDR: 5, IPV4_ROUTE: 7 } as const

export const RTM = {
  NEWLINK: 16,
  DELLINK: 17,
  GETLINK: 18,
  NEWADDR: 20,
  DELADDR: 21,
  GETADDR: 22,
  NEWROUTE: 24,
  DELROUTE: 25,
  GETROUTE: 26,
  NEWNEIGH: 28,
  DELNEIGH: 29,
  NEWQDISC: 36,
  DELQDISC: 37,
  NEWTFILTER: 44,
  DELTFILTER: 45,
  GETTFILTER: 46,
} as const

/** A failed rtnetlink exchange. */
export class RtnlError extends WeftError {
  override name = 'RtnlError'
  constructor(
    readonly op: string,
    readonly errno: number,
    reason: string,
  ) {
    super('rtnetlink_failed', `${op}: ${reason}`)
  }
}

/** One netlink message: its type, flags and the bytes after the 16-byte header. */
export interface NlMessage {
  type: number
  flags: number
  seq: number
  body: Uint8Array
}

/** Split a datagram into messages (pure); `keep` (by message type) leaves the rest uncopied. */
export function splitMessages(
  buf: Uint8Array,
  n = buf.length,
  keep?: (type: number) => boolean,
): NlMessage[] {
  const out: NlMessage[] = []
  eachMessage(buf, n, (m) => out.push({ ...m, body: m.body.slice() }), keep)
  return out
}

/**
 * Each message of a datagram (pure), its body a view into `buf`: valid only until `buf` is
 * written again (copy what is kept). A copy per message was two native allocations each
 * once decoded (a small array's ArrayBuffer is made on first use of `.buffer`): with a dump
 * of every sandbox every 5 s, most of what a comparison allocated.
 */
export function eachMessage(
  buf: Uint8Array,
  n: number,
  fn: (m: NlMessage) => void,
  keep?: (type: number) => boolean,
): void {
  const v = new DataView(buf.buffer, buf.byteOffset, n)
  let at = 0
  while (at + 16 <= n) {
    const len = v.getUint32(at, true)
    if (len < 16 || at + len > n) break
    // the host's notifications drift does not read (a converge is thousands) make nothing
    if (keep && !keep(v.getUint16(at + 4, true))) {
      at += (len + 3) & ~3
      continue
    }
    fn({
      type: v.getUint16(at + 4, true),
      flags: v.getUint16(at + 6, true),
      seq: v.getUint32(at + 8, true),
      body: buf.subarray(at + 16, at + len),
    })
    at += (len + 3) & ~3
  }
}

/** Encode one request: header, fixed family header, then attributes (type, payload). */
export function encodeRequest(
  type: number,
  flags: number,
  seq: number,
  fixed: Uint8Array,
  attrs: [number, Uint8Array][] = [],
): Uint8Array {
  const pad = (n: number) => (n + 3) & ~3
  let size = 16 + pad(fixed.length)
  for (const [, p] of attrs) size += 4 + pad(p.length)
  const buf = new Uint8Array(size)
  const v = new DataView(buf.buffer)
  v.setUint32(0, size, true)
  v.setUint16(4, type, true)
  v.setUint16(6, flags | NLM_F_REQUEST, true)
  v.setUint32(8, seq, true)
  buf.set(fixed, 16)
  let at = 16 + pad(fixed.length)
  for (const [t, p] of attrs) {
    v.setUint16(at, 4 + p.length, true)
    v.setUint16(at + 2, t, true)
    buf.set(p, at + 4)
    at += 4 + pad(p.length)
  }
  return buf
}

/**
 * One receive buffer for every channel: reads are synchronous and copy out what they keep
 * (splitMessages slices), and allocating 256 KiB per short-lived sandbox socket cost more than
 * the dumps themselves.
 */
const SHARED_RX = new Uint8Array(256 * 1024)

/** A non-blocking NETLINK_ROUTE socket in this thread's netns or in the netns at `nsPath`. */
export class RtnlChannel {
  private seq = 1
  private readonly rx = SHARED_RX
  private closed = false

  private constructor(
    private readonly fd: number,
    private readonly sys: NlSys,
    readonly where: string,
  ) {}

  /**
   * `strict`: the kernel applies a dump request's filters (e.g. a route dump's table) instead of
   * answering with everything (NETLINK_GET_STRICT_CHK, Linux >= 4.20). Best effort: callers
   * still filter what they read, so an older kernel only answers with more.
   */
  static open(
    opts: { nsPath?: string; groups?: number[]; strict?: boolean; sys?: NlSys } = {},
  ): RtnlChannel {
    const sys = opts.sys ?? getLibc()
    const make = () =>
      sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE)
    const fd = opts.nsPath === undefined ? make() : withNetns(opts.nsPath, make)
    const where = opts.nsPath ?? 'the host namespace'
    if (fd < 0)
      throw new RtnlError(
        `open rtnetlink socket in ${where}`,
        sys.errno(),
        sys.strerror(sys.errno()),
      )
    const ch = new RtnlChannel(fd, sys, where)
    if (opts.strict) sys.setsockoptInt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1)
    if (opts.groups?.length) {
      // a bigger queue: a burst of endpoint changes must not overflow it (ENOBUFS means a full check)
      sys.setsockoptInt(fd, SOL_SOCKET, SO_RCVBUF, 1 << 20)
      for (const g of opts.groups) {
        if (sys.setsockoptInt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, g) < 0) {
          const e = sys.errno()
          ch.close()
          throw new RtnlError(`join rtnetlink group ${g} in ${where}`, e, sys.strerror(e))
        }
      }
      // Kernel notifications skip sockets whose port id equals the sender's (0): a send
      // autobinds the socket to a port of its own. NOOP without ACK gets no answer.
      ch.sendRaw(encodeRequest(NLMSG_NOOP, 0, 0, new Uint8Array(0)), 'bind')
    }
    return ch
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.sys.close(this.fd)
  }

  private sendRaw(msg: Uint8Array, op: string): void {
    if (this.sys.send(this.fd, msg) !== msg.length) {
      const e = this.sys.errno()
      throw new RtnlError(`${op} in ${this.where}`, e, `send failed (${this.sys.strerror(e)})`)
    }
  }

  /**
   * Everything queued now (notifications), without waiting; with `keep`, only the messages of
   * the types it keeps. `overflowed` says the kernel dropped some (ENOBUFS): the caller must
   * assume anything changed.
   */
  drain(keep?: (type: number) => boolean): { messages: NlMessage[]; overflowed: boolean } {
    const messages: NlMessage[] = []
    let overflowed = false
    for (let i = 0; i < 10_000; i++) {
      const n = this.sys.recv(this.fd, this.rx)
      if (n < 0) {
        const e = this.sys.errno()
        if (e === ENOBUFS) {
          overflowed = true
          continue
        }
        if (e === EAGAIN) break
        throw new RtnlError(`read notifications in ${this.where}`, e, this.sys.strerror(e))
      }
      if (n === 0) break
      for (const m of splitMessages(this.rx, n, keep)) messages.push(m)
    }
    return { messages, overflowed }
  }

  /** A dump request: every answer message up to NLMSG_DONE. Throws on an error answer. */
  dump(
    op: string,
    type: number,
    fixed: Uint8Array,
    attrs: [number, Uint8Array][] = [],
  ): NlMessage[] {
    const out: NlMessage[] = []
    this.dumpEach(op, type, fixed, attrs, (m) => out.push({ ...m, body: m.body.slice() }))
    return out
  }

  /**
   * dump() without keeping the answer: `fn` sees each message, its body a view into the
   * receive buffer valid only during the call (decode it there).
   */
  dumpEach(
    op: string,
    type: number,
    fixed: Uint8Array,
    attrs: [number, Uint8Array][],
    fn: (m: NlMessage) => void,
  ): void {
    const seq = this.seq++
    this.sendRaw(encodeRequest(type, NLM_F_DUMP, seq, fixed, attrs), op)
    let done = false
    let err = 0
    const take = (m: NlMessage) => {
      if (done || m.seq !== seq) return
      if (m.type === NLMSG_DONE) done = true
      else if (m.type === NLMSG_ERROR) {
        done = true
        err = -new DataView(m.body.buffer, m.body.byteOffset).getInt32(0, true)
      } else fn(m)
    }
    // The kernel queues the first part inside send() and each next part inside the recv()
    // that takes the previous one, so an empty queue before DONE means the answer is lost.
    for (let guard = 0; guard < 100_000; guard++) {
      const n = this.sys.recv(this.fd, this.rx)
      if (n < 0) {
        const e = this.sys.errno()
        throw new RtnlError(
          `${op} in ${this.where}`,
          e,
          e === EAGAIN ? 'no answer from the kernel' : this.sys.strerror(e),
        )
      }
      eachMessage(this.rx, n, take)
      if (done) {
        if (err !== 0) throw new RtnlError(`${op} in ${this.where}`, err, this.sys.strerror(err))
        return
      }
    }
    throw new RtnlError(`${op} in ${this.where}`, 0, 'answer never ended')
  }

  /** A request answered by an ACK; returns the kernel's errno (0 on success). */
  request(
    op: string,
    type: number,
    flags: number,
    fixed: Uint8Array,
    attrs: [number, Uint8Array][] = [],
  ): number {
    const seq = this.seq++
    this.sendRaw(encodeRequest(type, flags | NLM_F_ACK, seq, fixed, attrs), op)
    for (let guard = 0; guard < 1000; guard++) {
      const n = this.sys.recv(this.fd, this.rx)
      if (n < 0) {
        const e = this.sys.errno()
        throw new RtnlError(
          `${op} in ${this.where}`,
          e,
          e === EAGAIN ? 'no answer from the kernel' : this.sys.strerror(e),
        )
      }
      for (const m of splitMessages(this.rx, n)) {
        if (m.seq === seq && m.type === NLMSG_ERROR)
          return -new DataView(m.body.buffer, m.body.byteOffset).getInt32(0, true)
      }
    }
    throw new RtnlError(`${op} in ${this.where}`, 0, 'no ACK')
  }
}
