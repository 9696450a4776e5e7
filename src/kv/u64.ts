// Unsigned 64-bit helpers: Consul indexes and Flags are u64. We carry them as bigint
// everywhere; libSQL INTEGER is signed, so storage maps through asIntN/asUintN.

export const U64_MAX = (1n << 64n) - 1n
const DIGITS = /^\d+$/

/** Parse a decimal u64 (query parameter, header). Returns undefined when invalid or out of range. */
export function parseU64(text: string | null | undefined): bigint | undefined {
  if (text === null || text === undefined) return undefined
  const t = text.trim()
  if (!DIGITS.test(t) || t.length > 20) return undefined
  const v = BigInt(t)
  return v <= U64_MAX ? v : undefined
}

/** Accept a JSON number, bigint or decimal string as u64; undefined when not one. */
export function toU64(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v >= 0n && v <= U64_MAX ? v : undefined
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined
  if (typeof v === 'string') return parseU64(v)
  return undefined
}

/** u64 -> signed i64 for libSQL INTEGER columns. */
export const toI64 = (v: bigint): bigint => BigInt.asIntN(64, v)
/** signed i64 from libSQL (bigint intMode) -> u64. */
export const fromI64 = (v: unknown): bigint => BigInt.asUintN(64, BigInt(v as bigint | number))
