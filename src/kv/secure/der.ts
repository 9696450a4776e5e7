// The few DER (ASN.1 distinguished encoding) builders an X.509 certificate needs. Encoding
// only: parsing and verification are left to node:crypto's X509Certificate and the TLS stack.

import { concatBytes } from '../../util/bytes.ts'

const concat = concatBytes

/** Tag-length-value with DER's definite length (short form below 128, long form above). */
export function tlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const body = concat(content)
  const n = body.length
  let len: number[]
  if (n < 0x80) len = [n]
  else {
    const bytes: number[] = []
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
    len = [0x80 | bytes.length, ...bytes]
  }
  return concat([new Uint8Array([tag, ...len]), body])
}

export const sequence = (...items: Uint8Array[]) => tlv(0x30, ...items)
export const set = (...items: Uint8Array[]) => tlv(0x31, ...items)
export const octetString = (b: Uint8Array) => tlv(0x04, b)
export const utf8String = (s: string) => tlv(0x0c, new TextEncoder().encode(s))
export const boolean = (v: boolean) => tlv(0x01, new Uint8Array([v ? 0xff : 0x00]))
/** Explicitly tagged, constructed context-specific field ([n] EXPLICIT). */
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner)
/** Implicitly tagged primitive context-specific field ([n] IMPLICIT, e.g. GeneralName choices). */
export const implicitPrimitive = (n: number, raw: Uint8Array) => tlv(0x80 | n, raw)

/** BIT STRING with `unused` padding bits in the last byte. */
export const bitString = (b: Uint8Array, unused = 0) => tlv(0x03, new Uint8Array([unused]), b)

/** Unsigned big-endian INTEGER (a leading zero keeps it positive). */
export function unsignedInteger(b: Uint8Array): Uint8Array {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  const trimmed = b.subarray(i)
  return tlv(0x02, trimmed[0]! & 0x80 ? concat([new Uint8Array([0]), trimmed]) : trimmed)
}

export const smallInteger = (n: number) => unsignedInteger(new Uint8Array([n]))

export function oid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number)
  const out: number[] = [40 * arcs[0]! + arcs[1]!]
  for (const arc of arcs.slice(2)) {
    const base128: number[] = []
    for (let v = arc; ; v = Math.floor(v / 128)) {
      base128.unshift((v & 0x7f) | (base128.length ? 0x80 : 0))
      if (v < 128) break
    }
    out.push(...base128)
  }
  return tlv(0x06, new Uint8Array(out))
}

/** X.509 Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
export function time(d: Date): Uint8Array {
  const p = (n: number) => String(n).padStart(2, '0')
  const rest = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`
  const y = d.getUTCFullYear()
  const ascii = (s: string) => new TextEncoder().encode(s)
  return y < 2050 ? tlv(0x17, ascii(`${p(y % 100)}${rest}`)) : tlv(0x18, ascii(`${y}${rest}`))
}
