// Durations as Go (and so Consul and Docker) write them: `10s`, `1m30s`, `500ms`, `1.5h`, `24h`,
// `0`. The one parser of the project: flags (--ttl, --interval) and the Consul API's wait/TTL.

const UNIT_NS: Record<string, number> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
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

/** A duration in milliseconds, or undefined when the text is not a duration. */
export function parseDurationMs(text: string): number | undefined {
  const ns = parseGoDuration(text)
  return ns === undefined ? undefined : ns / 1e6
}

/** Milliseconds -> a Go duration string accepted by every Consul version (e.g. `15000ms`). */
export function formatMs(ms: number): string {
  return `${Math.max(0, Math.round(ms))}ms`
}
