// On which CPU a flow's packets travel: per-CPU counts of the client's data packets entering its
// host (netif_receive_skb on the client's host-side veth, > 10,000 bytes: TSO packets) and of
// the ACKs leaving towards it (net_dev_xmit on the same veth, < 200 bytes), from `perf stat -a
// -A` on the two tracepoints, filtered by that veth's name. Every veth hop queues a packet to
// the backlog of the CPU it is on, so the CPU a data packet enters the host on is the CPU it
// travels on to the receiver: the share not on the client's own CPU is how much of the flow runs
// in a second pipeline (docs/PERF-NOTES.md "Reordering"). The tracepoints are machine-wide: a
// same-named device of someone else's namespace would count too (the bench lock keeps other
// measurements away).
import { readFileSync } from 'node:fs'
import { runInNs } from './procs.ts'

export interface CpuSplit {
  /** data packets (TSO) entering the client's host, per CPU */
  data: number[]
  /** ACKs delivered to the client, per CPU */
  acks: number[]
  /** busy share of each CPU over the run (machine-wide, /proc/stat) */
  busy?: number[]
}

/** The host-side name of `ns`'s eth0 (its veth peer) in `hostNs`. */
export async function hostVethOf(ns: string, hostNs: string): Promise<string> {
  const r = await runInNs(ns, ['ip', '-j', '-d', 'link', 'show', 'dev', 'eth0'])
  if (r.code !== 0) throw new Error(`ip link in ${ns}: ${r.stderr.trim()}`)
  const peer = (JSON.parse(r.stdout) as { link_index?: number }[])[0]?.link_index
  if (!peer) throw new Error(`${ns}: eth0 has no veth peer index`)
  const h = await runInNs(hostNs, ['ip', '-j', 'link', 'show'])
  if (h.code !== 0) throw new Error(`ip link in ${hostNs}: ${h.stderr.trim()}`)
  const dev = (JSON.parse(h.stdout) as { ifindex: number; ifname: string }[]).find(
    (l) => l.ifindex === peer,
  )
  if (!dev) throw new Error(`${hostNs}: no device with ifindex ${peer} (${ns}'s eth0 peer)`)
  return dev.ifname
}

/**
 * Counts for `seconds` (start it with the load, await it after). perf runs in `ns` only
 * because every process of the bench is started in one of its namespaces; it counts machine-wide.
 */
export async function countCpuSplit(ns: string, dev: string, seconds: number): Promise<CpuSplit> {
  if (!/^[A-Za-z0-9_.-]+$/.test(dev)) throw new Error(`device name ${dev}: not a plain name`)
  const r = await runInNs(
    ns,
    [
      'timeout',
      '-s',
      'INT',
      String(seconds),
      'perf',
      'stat',
      '-a',
      '-A',
      '-x',
      ',',
      '-e',
      'net:netif_receive_skb',
      '--filter',
      `len > 10000 && name == "${dev}"`,
      '-e',
      'net:net_dev_xmit',
      '--filter',
      `len < 200 && name == "${dev}"`,
    ],
    { timeoutMs: (seconds + 20) * 1000 },
  )
  // 124: timeout sent the SIGINT that ends the count (perf prints its totals on it)
  if (r.code !== 124 && r.code !== 0)
    throw new Error(`perf stat exited ${r.code}: ${r.stderr.trim().slice(-300)}`)
  const split: CpuSplit = { data: [], acks: [] }
  for (const line of r.stderr.split('\n')) {
    // CPU0,56264,,net:netif_receive_skb,3989217258,100.00,,
    const m = /^CPU(\d+),(\d+),[^,]*,net:(netif_receive_skb|net_dev_xmit),/.exec(line)
    if (!m) continue
    const which = m[3] === 'netif_receive_skb' ? split.data : split.acks
    which[Number(m[1])] = Number(m[2])
  }
  if (split.data.length === 0)
    throw new Error(`perf stat printed no per-CPU counts: ${r.stderr.trim().slice(-300)}`)
  return split
}

/** Per CPU: [busy, total] jiffies from /proc/stat (busy = all but idle and iowait). */
export function perCpuJiffies(): [number, number][] {
  return readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .filter((l) => /^cpu\d+ /.test(l))
    .map((l) => {
      const v = l.split(/\s+/).slice(1).map(Number)
      const total = v.reduce((a, b) => a + b, 0)
      return [total - v[3]! - v[4]!, total]
    })
}

/** Busy share (0..1) of each CPU between two perCpuJiffies() readings (the whole machine's). */
export function busyShares(a: [number, number][], b: [number, number][]): number[] {
  return b.map(([busy, total], i) => {
    const dt = total - a[i]![1]
    return dt > 0 ? (busy - a[i]![0]) / dt : 0
  })
}

/** Share (0..1) of `counts` not on CPU `cpu`. */
export function shareOffCpu(counts: number[], cpu: number): number {
  const total = counts.reduce((a, b) => a + (b ?? 0), 0)
  return total > 0 ? (total - (counts[cpu] ?? 0)) / total : 0
}
