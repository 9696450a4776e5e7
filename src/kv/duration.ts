// Go duration syntax (`1m30s`, `2000ms`, `1.5h`, `0`) used by Consul for wait, TTL, LockDelay.

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  'µs': 1e3,
  'μs': 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
}
const PART = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y

/** Parse a Go duration string into nanoseconds; undefined when invalid (a bare number other than 0 is invalid). */
export function parseGoDuration(text: string): number | undefined {
  let s = text.trim()
  if (s === '') return undefined
  let sign = 1
  if (s[0] === '-' || s[0] === '+') {
    if (s[0] === '-') sign = -1
    s = s.slice(1)
  }
  if (s === '0') return 0
  let total = 0
  PART.lastIndex = 0
  let pos = 0
  while (pos < s.length) {
    PART.lastIndex = pos
    const m = PART.exec(s)
    if (!m) return undefined
    total += Number(m[1]) * (UNIT_NS[m[2]!] ?? 0)
    pos = PART.lastIndex
  }
  return sign * total
}

/** Milliseconds -> a Go duration string accepted by every Consul version (e.g. `15000ms`). */
export function formatMs(ms: number): string {
  return `${Math.max(0, Math.round(ms))}ms`
}
