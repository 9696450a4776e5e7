// Codecs turn map keys/values into the exact bytes the kernel sees and back. A codec's
// `size` is checked against the kernel's key/value size when a typed map is built.
// Integers are little-endian (host order on x86_64) unless the name says `be`.

/** Fixed-size binary encoding of one key or value type. */
export interface Codec<T> {
  readonly size: number
  /** Write `value` into `view` at `offset` (the caller guarantees `size` bytes of room). */
  write(view: DataView, offset: number, value: T): void
  read(view: DataView, offset: number): T
}

/** Encode a value into a fresh buffer of `codec.size` bytes. */
export function encode<T>(codec: Codec<T>, value: T): Uint8Array {
  const buf = new Uint8Array(codec.size)
  codec.write(new DataView(buf.buffer), 0, value)
  return buf
}

/** Decode a value from the first `codec.size` bytes of `bytes` (at `offset`). */
export function decode<T>(codec: Codec<T>, bytes: Uint8Array, offset = 0): T {
  return codec.read(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset)
}

const int = <T>(size: number, write: Codec<T>['write'], read: Codec<T>['read']): Codec<T> => ({
  size,
  write,
  read,
})

export const u8 = int<number>(
  1,
  (v, o, x) => v.setUint8(o, x),
  (v, o) => v.getUint8(o),
)
export const u16 = int<number>(
  2,
  (v, o, x) => v.setUint16(o, x, true),
  (v, o) => v.getUint16(o, true),
)
export const u32 = int<number>(
  4,
  (v, o, x) => v.setUint32(o, x, true),
  (v, o) => v.getUint32(o, true),
)
export const u64 = int<bigint>(
  8,
  (v, o, x) => v.setBigUint64(o, x, true),
  (v, o) => v.getBigUint64(o, true),
)
/** Network byte order (`__be16`). */
export const be16 = int<number>(
  2,
  (v, o, x) => v.setUint16(o, x, false),
  (v, o) => v.getUint16(o, false),
)
/** Network byte order (`__be32`), e.g. an IPv4 address as a number. */
export const be32 = int<number>(
  4,
  (v, o, x) => v.setUint32(o, x, false),
  (v, o) => v.getUint32(o, false),
)

/** Raw bytes of a fixed length (shorter input is zero-padded, longer is an error). */
export function bytes(size: number): Codec<Uint8Array> {
  return {
    size,
    write(view, offset, value) {
      if (value.byteLength > size)
        throw new RangeError(`bytes(${size}): got ${value.byteLength} bytes`)
      new Uint8Array(view.buffer, view.byteOffset + offset, size).set(value)
    },
    read: (view, offset) => new Uint8Array(view.buffer, view.byteOffset + offset, size).slice(),
  }
}

type FieldsOf<F> = { [K in keyof F]: { offset: number; codec: Codec<F[K]> } }

/**
 * A C struct: total `size` (including padding, as `sizeof` says) and each field's offset.
 * Padding bytes are written as zero, which hash-map keys need to compare equal.
 * @example struct<{ vni: number; ip: number }>(8, { vni: { offset: 0, codec: u32 }, ip: { offset: 4, codec: be32 } })
 */
export function struct<F extends Record<string, unknown>>(
  size: number,
  fields: FieldsOf<F>,
): Codec<F> {
  const entries = Object.entries(fields) as [
    keyof F & string,
    { offset: number; codec: Codec<unknown> },
  ][]
  for (const [name, f] of entries) {
    if (f.offset < 0 || f.offset + f.codec.size > size) {
      throw new RangeError(
        `struct field ${name} (offset ${f.offset}, size ${f.codec.size}) exceeds struct size ${size}`,
      )
    }
  }
  return {
    size,
    write(view, offset, value) {
      new Uint8Array(view.buffer, view.byteOffset + offset, size).fill(0)
      for (const [name, f] of entries) f.codec.write(view, offset + f.offset, value[name])
    },
    read(view, offset) {
      const out: Record<string, unknown> = {}
      for (const [name, f] of entries) out[name] = f.codec.read(view, offset + f.offset)
      return out as F
    },
  }
}
