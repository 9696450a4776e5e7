// The DNS codec: queries read back as sent, answers echo the question and carry the records,
// and malformed messages are refused with the right code (or dropped) instead of throwing.
import { describe, expect, test } from 'bun:test'
import {
  encodeAnswer,
  encodeError,
  encodeQuery,
  parseAnswer,
  parseQuery,
  RCODE,
  TYPE,
  withId,
} from '../../src/dns/codec.ts'

const query = (name: string, type: number = TYPE.A) => encodeQuery(0x1234, name, type)

describe('dns codec', () => {
  test('a query reads back with its id, lower-cased name, type and RD flag', () => {
    const q = parseQuery(query('Web1.Example.', TYPE.AAAA))
    if ('drop' in q) throw new Error('unreadable')
    expect(q).toMatchObject({
      id: 0x1234,
      opcode: 0,
      recursionDesired: true,
      question: { name: 'web1.example', type: TYPE.AAAA, class: 1 },
    })
  })

  test('an A answer echoes the question and carries every address with the TTL', () => {
    const msg = query('c1')
    const q = parseQuery(msg)
    if ('drop' in q) throw new Error('unreadable')
    const a = parseAnswer(
      encodeAnswer(
        msg,
        q,
        RCODE.NOERROR,
        [
          { type: TYPE.A, ip: '10.0.1.2' },
          { type: TYPE.A, ip: '10.0.2.9' },
        ],
        1,
      ),
    )
    expect(a).toMatchObject({
      id: 0x1234,
      rcode: 0,
      authoritative: true,
      question: { name: 'c1', type: TYPE.A },
    })
    expect(a.answers).toEqual([
      { name: 'c1', type: TYPE.A, ttl: 1, data: '10.0.1.2' },
      { name: 'c1', type: TYPE.A, ttl: 1, data: '10.0.2.9' },
    ])
  })

  test('a PTR answer carries the name; NXDOMAIN carries no records', () => {
    const msg = query('2.1.0.10.in-addr.arpa', TYPE.PTR)
    const q = parseQuery(msg)
    if ('drop' in q) throw new Error('unreadable')
    expect(
      parseAnswer(encodeAnswer(msg, q, 0, [{ type: TYPE.PTR, name: 'c1.front' }], 1)).answers,
    ).toEqual([{ name: '2.1.0.10.in-addr.arpa', type: TYPE.PTR, ttl: 1, data: 'c1.front' }])
    const nx = parseAnswer(encodeAnswer(msg, q, RCODE.NXDOMAIN, [], 1))
    expect([nx.rcode, nx.answers.length]).toEqual([RCODE.NXDOMAIN, 0])
  })

  test('an EDNS query (OPT in the additional section) is answered without it', () => {
    const base = query('c1')
    const opt = Uint8Array.from([0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0])
    const msg = new Uint8Array(base.length + opt.length)
    msg.set(base)
    msg.set(opt, base.length)
    msg[11] = 1 // ARCOUNT
    const q = parseQuery(msg)
    if ('drop' in q) throw new Error('unreadable')
    const out = encodeAnswer(msg, q, 0, [{ type: TYPE.A, ip: '10.0.0.2' }], 1)
    expect(out[11]).toBe(0)
    expect(parseAnswer(out).answers).toHaveLength(1)
  })

  test('an answer (QR set) and a runt are dropped; two questions are FORMERR; an UPDATE is NOTIMP', () => {
    const msg = query('c1')
    const answer = new Uint8Array(msg)
    answer[2]! |= 0x80
    expect(parseQuery(answer)).toMatchObject({ drop: true })
    expect(parseQuery(new Uint8Array(5))).toMatchObject({ drop: true })
    const two = new Uint8Array(msg)
    two[5] = 2
    expect(parseQuery(two)).toMatchObject({ rcode: RCODE.FORMERR, id: 0x1234, drop: false })
    const update = new Uint8Array(msg)
    update[2] = 5 << 3
    expect(parseQuery(update)).toMatchObject({ rcode: RCODE.NOTIMP, drop: false })
  })

  test('a question cut short or using a compression pointer is FORMERR', () => {
    const msg = query('c1')
    expect(parseQuery(msg.subarray(0, msg.length - 3))).toMatchObject({ rcode: RCODE.FORMERR })
    const pointer = new Uint8Array(msg)
    pointer[12] = 0xc0
    pointer[13] = 12
    expect(parseQuery(pointer)).toMatchObject({ rcode: RCODE.FORMERR })
  })

  test('error answers and ID rewriting keep the rest of the message', () => {
    expect(parseAnswer(encodeError(7, RCODE.SERVFAIL))).toMatchObject({
      id: 7,
      rcode: RCODE.SERVFAIL,
      answers: [],
    })
    const moved = withId(query('x'), 0xbeef)
    expect(parseAnswer(moved).id).toBe(0xbeef)
    expect(moved.subarray(2)).toEqual(query('x').subarray(2))
  })

  test('compressed names in answers from other servers are followed, loops are refused', () => {
    // question "a.b", answer owner = pointer to the question, CNAME data = "c" + pointer to "b"
    const msg = Uint8Array.from([
      0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 97, 1, 98, 0, 0, 1, 0, 1, 0xc0, 12, 0, 5, 0, 1,
      0, 0, 0, 60, 0, 4, 1, 99, 0xc0, 14,
    ])
    expect(parseAnswer(msg).answers).toEqual([
      { name: 'a.b', type: TYPE.CNAME, ttl: 60, data: 'c.b' },
    ])
    const loop = new Uint8Array(msg)
    loop[12] = 0xc0
    loop[13] = 12
    expect(() => parseAnswer(loop)).toThrow(/unreadable question/)
  })
})
