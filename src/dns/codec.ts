// The DNS message codec (RFC 1035), as much as weft needs: read a query's header and its
// one question; build an answer (A, PTR, NODATA, NXDOMAIN and the error codes) that echoes
// the question; build queries and read answers (the tests' and the bench's stub resolver).
//
// Design note (2026-12): hand-written rather than the dns-packet npm package. weft answers
// two record types and forwards everything else byte for byte (only the ID is rewritten),
// so a general codec would be a dependency for ~200 lines; this one allocates one buffer
// per answer and never parses what it forwards.

export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  TXT: 16,
  AAAA: 28,
  OPT: 41,
  ANY: 255,
} as const
export const CLASS_IN = 1
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
} as const
export const RCODE_NAME: Record<number, string> = Object.fromEntries(
  Object.entries(RCODE).map(([k, v]) => [v, k]),
)

const HEADER = 12
const QR = 0x8000
const AA = 0x0400
const TC = 0x0200
const RD = 0x0100
const RA = 0x0080

export interface Question {
  /** Lower case, without the trailing dot ("" is the root). */
  name: string
  type: number
  class: number
}

export interface Query {
  id: number
  opcode: number
  recursionDesired: boolean
  question: Question
  /** Offset just past the question: header + question are echoed in the answer. */
  questionEnd: number
}

/** Why a message is not a query we can read; `id` is set when the header was readable. */
export interface Unreadable {
  rcode: number
  id?: number
  /** An answer (QR set) or garbage shorter than a header: drop it, do not answer. */
  drop: boolean
}

export type Answer = { type: typeof TYPE.A; ip: string } | { type: typeof TYPE.PTR; name: string }

/** Read a query: its header and its single question. */
export function parseQuery(msg: Uint8Array): Query | Unreadable {
  if (msg.length < HEADER) return { rcode: RCODE.FORMERR, drop: true }
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  const id = v.getUint16(0)
  const flags = v.getUint16(2)
  if (flags & QR) return { rcode: RCODE.FORMERR, id, drop: true }
  const opcode = (flags >> 11) & 0xf
  if (opcode !== 0) return { rcode: RCODE.NOTIMP, id, drop: false }
  if (v.getUint16(4) !== 1) return { rcode: RCODE.FORMERR, id, drop: false }
  const name = readName(msg, HEADER, false)
  if (!name || name.end + 4 > msg.length) return { rcode: RCODE.FORMERR, id, drop: false }
  return {
    id,
    opcode,
    recursionDesired: (flags & RD) !== 0,
    question: {
      name: name.name.toLowerCase(),
      type: v.getUint16(name.end),
      class: v.getUint16(name.end + 2),
    },
    questionEnd: name.end + 4,
  }
}

/**
 * The answer to `query` (whose bytes are `msg`): the header and the question echoed, then
 * `answers` (their owner is the question's name). Authoritative: weft owns overlay names.
 */
export function encodeAnswer(
  msg: Uint8Array,
  query: Query,
  rcode: number,
  answers: Answer[],
  ttl: number,
): Uint8Array {
  const rdata = answers.map((a) => (a.type === TYPE.A ? ipv4Rdata(a.ip) : encodeName(a.name)))
  const size = query.questionEnd + rdata.reduce((n, r) => n + 12 + r.length, 0)
  const out = new Uint8Array(size)
  out.set(msg.subarray(0, query.questionEnd))
  const v = new DataView(out.buffer)
  v.setUint16(2, QR | AA | RA | (query.recursionDesired ? RD : 0) | (rcode & 0xf))
  v.setUint16(4, 1)
  v.setUint16(6, answers.length)
  v.setUint16(8, 0)
  v.setUint16(10, 0) // a query's EDNS OPT is not echoed: answers are far below 512 bytes
  let at = query.questionEnd
  answers.forEach((a, i) => {
    v.setUint16(at, 0xc000 | HEADER) // owner: a pointer to the question's name
    v.setUint16(at + 2, a.type)
    v.setUint16(at + 4, CLASS_IN)
    v.setUint32(at + 6, ttl)
    v.setUint16(at + 10, rdata[i]!.length)
    out.set(rdata[i]!, at + 12)
    at += 12 + rdata[i]!.length
  })
  return out
}

/** An error answer for a message whose question could not be read: just the header. */
export function encodeError(id: number, rcode: number): Uint8Array {
  const out = new Uint8Array(HEADER)
  const v = new DataView(out.buffer)
  v.setUint16(0, id)
  v.setUint16(2, QR | RA | (rcode & 0xf))
  return out
}

/** The message's ID (first two bytes). */
export const messageId = (msg: Uint8Array) => (msg[0]! << 8) | msg[1]!

/** A copy of `msg` with another ID (forwarding maps client IDs to upstream IDs). */
export function withId(msg: Uint8Array, id: number): Uint8Array {
  const out = new Uint8Array(msg)
  out[0] = id >> 8
  out[1] = id & 0xff
  return out
}

/** A recursive query for one name. */
export function encodeQuery(id: number, name: string, type: number): Uint8Array {
  const qname = encodeName(name)
  const out = new Uint8Array(HEADER + qname.length + 4)
  const v = new DataView(out.buffer)
  v.setUint16(0, id)
  v.setUint16(2, RD)
  v.setUint16(4, 1)
  out.set(qname, HEADER)
  v.setUint16(HEADER + qname.length, type)
  v.setUint16(HEADER + qname.length + 2, CLASS_IN)
  return out
}

export interface ParsedAnswer {
  id: number
  rcode: number
  truncated: boolean
  authoritative: boolean
  question?: Question
  answers: { name: string; type: number; ttl: number; data: string }[]
}

/** Read an answer (from weft or from any server: names may be compressed). */
export function parseAnswer(msg: Uint8Array): ParsedAnswer {
  if (msg.length < HEADER)
    throw new Error(`DNS answer of ${msg.length} bytes is shorter than a header`)
  const v = new DataView(msg.buffer, msg.byteOffset, msg.byteLength)
  const flags = v.getUint16(2)
  const out: ParsedAnswer = {
    id: v.getUint16(0),
    rcode: flags & 0xf,
    truncated: (flags & TC) !== 0,
    authoritative: (flags & AA) !== 0,
    answers: [],
  }
  let at = HEADER
  const qd = v.getUint16(4)
  for (let i = 0; i < qd; i++) {
    const n = readName(msg, at, true)
    if (!n || n.end + 4 > msg.length) throw new Error('DNS answer: unreadable question')
    out.question = {
      name: n.name.toLowerCase(),
      type: v.getUint16(n.end),
      class: v.getUint16(n.end + 2),
    }
    at = n.end + 4
  }
  const an = v.getUint16(6)
  for (let i = 0; i < an; i++) {
    const n = readName(msg, at, true)
    if (!n || n.end + 10 > msg.length) throw new Error('DNS answer: unreadable record')
    const type = v.getUint16(n.end)
    const ttl = v.getUint32(n.end + 4)
    const len = v.getUint16(n.end + 8)
    const start = n.end + 10
    if (start + len > msg.length) throw new Error('DNS answer: record data past the end')
    let data: string
    if (type === TYPE.A && len === 4) data = [...msg.subarray(start, start + 4)].join('.')
    else if (type === TYPE.PTR || type === TYPE.CNAME)
      data = readName(msg, start, true)?.name ?? '?'
    else data = Buffer.from(msg.subarray(start, start + len)).toString('hex')
    out.answers.push({ name: n.name.toLowerCase(), type, ttl, data })
    at = start + len
  }
  return out
}

// --- internal ---

/** A name in wire form: labels, then the root. Empty labels (a trailing dot) are dropped. */
function encodeName(name: string): Uint8Array {
  const labels = name.split('.').filter((l) => l.length > 0)
  const parts = labels.map((l) => new TextEncoder().encode(l))
  const out = new Uint8Array(parts.reduce((n, p) => n + 1 + p.length, 1))
  let at = 0
  for (const p of parts) {
    if (p.length > 63) throw new RangeError(`DNS label "${name}" is longer than 63 bytes`)
    out[at++] = p.length
    out.set(p, at)
    at += p.length
  }
  out[at] = 0
  return out
}

function ipv4Rdata(ip: string): Uint8Array {
  return Uint8Array.from(ip.split('.').map(Number))
}

/**
 * Read a name at `at`. Queries carry their question uncompressed (`pointers` false refuses
 * a pointer there); answers may point back. Returns where the name ends in the message.
 */
function readName(
  msg: Uint8Array,
  at: number,
  pointers: boolean,
): { name: string; end: number } | undefined {
  const labels: string[] = []
  let end = -1
  let jumps = 0
  let length = 0
  for (;;) {
    if (at >= msg.length) return undefined
    const len = msg[at]!
    if (len === 0) {
      if (end < 0) end = at + 1
      break
    }
    if ((len & 0xc0) === 0xc0) {
      if (!pointers || at + 1 >= msg.length || ++jumps > 32) return undefined
      if (end < 0) end = at + 2
      at = ((len & 0x3f) << 8) | msg[at + 1]!
      continue
    }
    if (len & 0xc0 || at + 1 + len > msg.length) return undefined
    length += len + 1
    if (length > 255) return undefined
    labels.push(new TextDecoder().decode(msg.subarray(at + 1, at + 1 + len)))
    at += 1 + len
  }
  return { name: labels.join('.'), end }
}
