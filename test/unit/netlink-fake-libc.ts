// A fake libc for unit tests of the rtnetlink socket, no root and no kernel: it records every
// request sent and answers from a script the test writes, as the kernel would (same seq).
import { concatBytes } from '../../src/util/bytes.ts'
import type { Libc } from '../../src/sys/index.ts'
import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLM_F_ACK_TLVS,
  NLM_F_MULTI,
} from '../../src/net/netlink-message.ts'

/** One reply datagram, built from the request it answers. */
export type Reply = (request: Uint8Array) => Uint8Array | 'lost'

const EAGAIN = 11

/** nlmsghdr + body, with the request's seq. */
export function message(
  type: number,
  flags: number,
  seqOf: Uint8Array,
  body: Uint8Array = new Uint8Array(),
): Uint8Array {
  const len = 16 + body.length
  const out = new Uint8Array((len + 3) & ~3)
  const v = new DataView(out.buffer)
  v.setUint32(0, len, true)
  v.setUint16(4, type, true)
  v.setUint16(6, flags, true)
  v.setUint32(8, new DataView(seqOf.buffer, seqOf.byteOffset).getUint32(8, true), true)
  out.set(body, 16)
  return out
}

/** NLMSG_ERROR for `request`: errno 0 is the ACK; `extAck` adds the kernel's message (NLMSGERR_ATTR_MSG). */
export function ack(request: Uint8Array, errno = 0, extAck?: string): Uint8Array {
  const text = extAck === undefined ? new Uint8Array() : new TextEncoder().encode(extAck + '\0')
  const attrLen = 4 + text.length
  const body = new Uint8Array(4 + 16 + (extAck === undefined ? 0 : (attrLen + 3) & ~3))
  const v = new DataView(body.buffer)
  v.setInt32(0, -errno, true)
  body.set(request.subarray(0, 16), 4) // NETLINK_CAP_ACK: only the request's header is echoed
  if (extAck !== undefined) {
    v.setUint16(20, attrLen, true)
    v.setUint16(22, 1, true)
    body.set(text, 24)
  }
  return message(NLMSG_ERROR, extAck === undefined ? 0 : NLM_F_ACK_TLVS, request, body)
}

export const done = (request: Uint8Array): Uint8Array =>
  message(NLMSG_DONE, NLM_F_MULTI, request, new Uint8Array(4))

export const concat = (...parts: Uint8Array[]): Uint8Array => concatBytes(parts)

export interface FakeLibc extends Libc {
  /** Every request sent, in order. */
  sent: Uint8Array[]
  /** Datagrams still to be read. */
  queue: Uint8Array[]
  /** Socket options set: [level, name, value]. */
  options: [number, number, number][]
  /** Answer the next requests with these, in order (one reply per request; its datagrams queued). */
  script: Reply[][]
}

/** A libc whose only socket is an rtnetlink socket answered from `script`. */
export function fakeLibc(): FakeLibc {
  let errno = 0
  const fail = (e: number) => ((errno = e), -1)
  const f: FakeLibc = {
    sent: [],
    queue: [],
    options: [],
    script: [],
    close: () => 0,
    setns: () => 0,
    ifNameToIndex: () => 0,
    ifIndexToName: () => undefined,
    ifIndexToNames: () => new Map(),
    errno: () => errno,
    strerror: (e) => `strerror(${e})`,
    socket: () => 7,
    setsockoptInt(_fd, level, name, value) {
      f.options.push([level, name, value])
      return 0
    },
    setsockoptTimeval(_fd, level, name, ms) {
      f.options.push([level, name, ms])
      return 0
    },
    send(_fd, data) {
      const req = data.slice()
      f.sent.push(req)
      for (const reply of f.script.shift() ?? []) {
        const d = reply(req)
        if (d !== 'lost') f.queue.push(d)
      }
      return data.byteLength
    },
    recv(_fd, buf) {
      const d = f.queue.shift()
      if (!d) return fail(EAGAIN) // what SO_RCVTIMEO makes recv answer when nothing came
      buf.set(d)
      return d.byteLength
    },
    // ENOSYS: the probe sockets' and page dropping's calls are not rtnetlink's
    bind: () => fail(38),
    sendTo: () => fail(38),
    recvFrom: () => fail(38),
    recvMsg: () => fail(38),
    clockGettimeNs: () => -1n,
    madvise: () => fail(38),
    memfdCreate: () => fail(38),
    addSeals: () => fail(38),
    flock: () => fail(38), // ENOSYS: nothing here locks
    formatVaList: () => undefined,
  }
  return f
}
