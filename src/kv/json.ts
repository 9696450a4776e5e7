// u64-safe JSON for the Consul API: indexes and Flags are unsigned 64-bit and may
// exceed 2^53. Parsing turns every integer outside the safe range into a bigint;
// stringifying writes bigints as bare JSON numbers (JSON.rawJSON).

const INTEGER = /^-?\d+$/
// 16+ digits where a number can start (the document's start, after ':', '[' or ','): a 64-hex id
// in a string has 16 digits in a row ~1.6 % of the time, which alone made a plain answer pay the
// reviver about one time in five. It may still match inside a string; the reviver then decides.
const LONG_NUMBER = /(?:^|[:[,])\s*-?\d{16}/

/** JSON.parse that keeps large integers exact (as bigint); small ones stay numbers. */
export function parseJson(text: string): unknown {
  // the reviver costs several times a plain parse: only pay it when a 16+ digit number is present
  if (!LONG_NUMBER.test(text)) return JSON.parse(text)
  return JSON.parse(text, (_key, value, ctx?: { source?: string }) => {
    if (
      typeof value === 'number' &&
      !Number.isSafeInteger(value) &&
      ctx?.source &&
      INTEGER.test(ctx.source)
    ) {
      return BigInt(ctx.source)
    }
    return value
  })
}

/** JSON.stringify that writes bigint values as JSON numbers. */
export function stringifyJson(value: unknown, pretty = false): string {
  return JSON.stringify(
    value,
    (_key, v) =>
      typeof v === 'bigint'
        ? (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(v.toString())
        : v,
    pretty ? 4 : undefined,
  )
}
