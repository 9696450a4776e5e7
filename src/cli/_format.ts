// Output helpers shaped like Docker's: tab-aligned tables (tabwriter minwidth 10,
// padding 3), 12-character short ids, human sizes.

/** Docker's table layout: every column but the last is padded to max(10, width + 3). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(10, ...[h, ...rows.map((r) => r[i] ?? '')].map((c) => c.length + 3)),
  )
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('')
      .trimEnd()
  return [line(header), ...rows.map(line)].join('\n')
}

export const shortId = (id: string) => id.slice(0, 12)

/** Sizes the way `docker stats` prints them (SI units: kB, MB, GB). */
export function humanBytes(n: number): string {
  if (n < 1000) return `${n}B`
  const units = ['kB', 'MB', 'GB', 'TB', 'PB']
  let v = n
  let u = -1
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000
    u++
  }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[u]}`
}

/** Plain counts with a k/M suffix above 100k, so columns stay narrow. */
export function humanCount(n: number): string {
  if (n < 100_000) return String(n)
  if (n < 100_000_000) return `${(n / 1000).toFixed(0)}k`
  return `${(n / 1_000_000).toFixed(0)}M`
}

/** "3 minutes ago", as docker prints CreatedAt-style times. */
export function ago(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000))
  if (s < 60) return `${s} seconds ago`
  const m = Math.round(s / 60)
  if (m < 60) return `${m} minute${m === 1 ? '' : 's'} ago`
  const h = Math.round(m / 60)
  if (h < 48) return `${h} hour${h === 1 ? '' : 's'} ago`
  return `${Math.round(h / 24)} days ago`
}

const BARS = '▁▂▃▄▅▆▇█'

/** A one-line chart of the values, scaled to their max (all zero: the lowest bar). */
export function sparkline(values: number[]): string {
  const max = Math.max(0, ...values)
  return values
    .map((v) =>
      max <= 0 || v <= 0
        ? ' '
        : BARS[Math.min(BARS.length - 1, Math.floor((v / max) * (BARS.length - 1) + 0.5))]!,
    )
    .join('')
}
