// `weft stats`: per-VNI counters of the agent's host (packets/bytes in and out, drops by
// reason). `--watch` redraws every interval with per-second rates and a short trend line.
import { parseDurationMs } from '../util/duration.ts'
import { flagBool, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { humanBytes, humanCount, sparkline, table } from './_format.ts'
import type { VniCounts, VniStats } from './_types.ts'
import type { RunInput } from './spec.ts'

const drops = (s: VniStats) => Object.values(s.drops).reduce((a, b) => a + Number(b), 0)

function dropText(s: VniStats): string {
  const parts = Object.entries(s.drops)
    .filter(([, n]) => Number(n) > 0)
    .map(([r, n]) => `${r}=${n}`)
  return parts.length ? parts.join(' ') : '0'
}

/** The counters as numbers, for --format json (the API sends u64 counters as strings). */
export function statsCounts(s: VniStats): VniCounts {
  const drops: Record<string, number> = {}
  for (const [reason, n] of Object.entries(s.drops)) drops[reason] = Number(n)
  return {
    vni: s.vni,
    ...(s.network !== undefined ? { network: s.network } : {}),
    txPackets: Number(s.txPackets),
    txBytes: Number(s.txBytes),
    rxPackets: Number(s.rxPackets),
    rxBytes: Number(s.rxBytes),
    drops,
  }
}

/** The counters as a table, one row per VNI. */
export function statsTable(stats: VniStats[]): string {
  return table(
    ['VNI', 'NETWORK', 'RX PACKETS', 'RX BYTES', 'TX PACKETS', 'TX BYTES', 'DROPS'],
    stats.map((s) => [
      String(s.vni),
      s.network ?? '-',
      humanCount(Number(s.rxPackets)),
      humanBytes(Number(s.rxBytes)),
      humanCount(Number(s.txPackets)),
      humanBytes(Number(s.txBytes)),
      dropText(s),
    ]),
  )
}

/** Published ports of the host and their traffic, one row each; '' when there are none. */
export function publishedTable(stats: VniStats[]): string {
  const rows = stats.flatMap((s) =>
    (s.published ?? []).map((p) => [
      p.port,
      `${s.network ?? s.vni} ${p.ip}`,
      humanCount(Number(p.connections)),
      humanCount(Number(p.packets)),
      humanBytes(Number(p.bytes)),
    ]),
  )
  return rows.length ? table(['PUBLISHED', 'TO', 'CONNECTIONS', 'PACKETS IN', 'BYTES IN'], rows) : ''
}

/** Counters with rates since the previous sample and a trend of packets/s. */
export function statsWatchTable(
  stats: VniStats[],
  prev: Map<number, VniStats>,
  dtS: number,
  trend: Map<number, number[]>,
): string {
  const rate = (now: string, before: string | undefined) =>
    before === undefined || dtS <= 0 ? 0 : Math.max(0, (Number(now) - Number(before)) / dtS)
  return table(
    [
      'VNI',
      'NETWORK',
      'RX PKT/S',
      'RX B/S',
      'TX PKT/S',
      'TX B/S',
      'DROP/S',
      'PKT/S TREND',
      'DROPS',
    ],
    stats.map((s) => {
      const p = prev.get(s.vni)
      const rxp = rate(s.rxPackets, p?.rxPackets)
      const txp = rate(s.txPackets, p?.txPackets)
      const dr = p ? Math.max(0, (drops(s) - drops(p)) / dtS) : 0
      return [
        String(s.vni),
        s.network ?? '-',
        rxp.toFixed(0),
        humanBytes(Math.round(rate(s.rxBytes, p?.rxBytes))),
        txp.toFixed(0),
        humanBytes(Math.round(rate(s.txBytes, p?.txBytes))),
        dr.toFixed(0),
        sparkline(trend.get(s.vni) ?? []).padEnd(20),
        dropText(s),
      ]
    }),
  )
}

function parseInterval(v: string): number {
  const ms = parseDurationMs(v)
  if (ms === undefined)
    throw new UsageError(`--interval "${v}" must be a duration like 1s or 500ms`, 'stats')
  if (ms < 100) throw new UsageError('--interval must be at least 100ms', 'stats')
  return ms
}

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const format = flagString(flags, 'format')
  if (format !== 'table' && format !== 'json') {
    throw new UsageError(`--format "${format}" is not supported: use table or json`, 'stats')
  }
  const intervalMs = parseInterval(flagString(flags, 'interval')!)
  const countText = flagString(flags, 'count')
  const count = countText === undefined ? Infinity : Number(countText)
  if (!(count >= 1) || !Number.isInteger(count === Infinity ? 1 : count))
    throw new UsageError('--count must be a positive whole number', 'stats')
  const client = ctx.client()
  if (!flagBool(flags, 'watch')) {
    const s = await client.get<VniStats[]>('/v1/stats')
    const published = publishedTable(s)
    ctx.out(format === 'json' ? JSON.stringify(s.map(statsCounts), null, 2) : published ? `${statsTable(s)}\n\n${published}` : statsTable(s))
    return
  }
  let stopped = false
  let wake: () => void = () => {}
  const stop = () => {
    stopped = true
    wake()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    let prev = new Map<number, VniStats>()
    let prevAt = 0
    const trend = new Map<number, number[]>()
    for (let i = 0; i < count && !stopped; i++) {
      const s = await client.get<VniStats[]>('/v1/stats')
      const now = Date.now()
      const dt = prevAt ? (now - prevAt) / 1000 : 0
      for (const v of s) {
        const p = prev.get(v.vni)
        const pps =
          p && dt > 0
            ? (Number(v.rxPackets) +
                Number(v.txPackets) -
                Number(p.rxPackets) -
                Number(p.txPackets)) /
              dt
            : 0
        trend.set(v.vni, [...(trend.get(v.vni) ?? []), pps].slice(-20))
      }
      if (format === 'json') {
        ctx.out(JSON.stringify({ time: new Date(now).toISOString(), stats: s.map(statsCounts) }))
      } else {
        const body = `${statsWatchTable(s, prev, dt, trend)}\n\nevery ${intervalMs / 1000}s, ${new Date(now).toLocaleTimeString()} (Ctrl-C to stop)`
        ctx.out(ctx.isTty ? `\x1b[H\x1b[2J${body}` : `${body}\n`)
      }
      prev = new Map(s.map((v) => [v.vni, v]))
      prevAt = now
      if (i + 1 < count && !stopped) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, intervalMs)
          wake = () => {
            clearTimeout(t)
            resolve()
          }
        })
      }
    }
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}
