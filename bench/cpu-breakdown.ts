// Where the CPU goes per packet: single-stream TCP (or, with --udp, 64 B UDP at full speed) per
// datapath on the bench's own topologies (bench/lib/setups.ts), with the CPU of each run split
// by where it is spent. As root:
//
//   bun run bench/cpu-breakdown.ts [--modes routed,bpf] [--underlay wire] [--rounds 5]
//        [--seconds 6] [--udp] [--no-bpf-stats] [--variant name=path/to/weft ...] [--out bench/results] [--tag NAME]
//        [--host-rps name:MASK[:rfs] ...] [--ep-rps name:MASK[:rfs] ...]
//
// Every setup is built first and kept up; rounds then alternate the modes (order rotated each
// round), as bench/reorder.ts. Per run, over the iperf3 run (1 s warm-up included):
// - `perf record -a -e cpu-clock` at a fixed period (this VM has no hardware counters): kernel
//   symbols grouped by what they do (GROUPS below), counted in the contexts that carry the
//   run's packets (the run's own processes, ksoftirqd, softirqs taken in the idle task);
//   everything else on the machine (other users' load, perf itself) is reported apart.
// - bpf_stats (kernel.bpf_stats_enabled=1 while the script runs, the old value restored after):
//   run_time_ns / run_cnt of each program of the setup's datapath (found by its pinned maps).
// - nstat in the client (data segments sent, IP bytes, retransmits) and in the server
//   (out-of-order queueings); /proc/stat user/system/softirq shares (machine-wide).
// Costs are given per data segment (TcpOutSegs at the sender: one MSS-sized segment on the wire,
// whatever GSO/GRO batching each mode does) and per GB (IP bytes sent by the client). With
// --udp (iperf3 -u -l 64 -b 0 as bench/run.ts): per datagram sent (UdpOutDatagrams in the
// client), also for the sending CPU alone (CPU_CLIENT: the sender and, in softirq, the whole
// path up to the receiver's socket run there; the receiving CPU only reads), and the datagrams
// the receiving namespace's UDP took in per second, the bench's figure.
// --host-rps / --ep-rps: RPS or RFS on a column's endpoint veths, as bench/reorder.ts.
// Writes bench/results/cpu-breakdown-<date>[-<tag>].json and .svg. Findings: docs/PERF-NOTES.md
// ("Where the CPU goes per packet").
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import {
  buildVariantSetup,
  finish,
  parseVariants,
  positiveFlag,
  type Variant,
} from './lib/script.ts'
import { barChartSvg } from './chart.ts'
import { runInNs, startedPids, stopAll } from './lib/procs.ts'
import { liveTopologies, type Setup, type Underlay } from './lib/setups.ts'
import { median } from './lib/stats.ts'
import { applySteerings, enableSockFlowTable, parseColumnSteerings } from './lib/rps.ts'
import { GROUP_NAMES, parsePerfReport, SHORT_LABEL, type Profile } from './lib/cpu-profile.ts'
import { CPU_CLIENT, readAllCounters, readCpu, tcpRun, udpRun } from './lib/tools.ts'

const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    modes: { type: 'string', default: 'routed,bpf' },
    underlay: { type: 'string', default: 'wire' },
    variant: { type: 'string', multiple: true, default: [] },
    rounds: { type: 'string', default: '5' },
    seconds: { type: 'string', default: '6' },
    out: { type: 'string', default: 'bench/results' },
    tag: { type: 'string' },
    udp: { type: 'boolean', default: false },
    'no-bpf-stats': { type: 'boolean', default: false },
    'host-rps': { type: 'string', multiple: true, default: [] },
    'ep-rps': { type: 'string', multiple: true, default: [] },
  },
  strict: true,
})
const ROUNDS = positiveFlag('rounds', args.rounds)
const UDP = args.udp!
/** bpf_stats costs two clock reads per program run (~150-250 ns per 64 B datagram here, not
 * paid in bench/run.ts): --no-bpf-stats measures without it, and without per-program figures. */
const BPF_STATS = !args['no-bpf-stats']
/** What a cost is divided by: one MSS on the wire, or one 64 B datagram sent. */
const UNIT = UDP ? 'datagram sent' : 'data segment'
const SECONDS = positiveFlag('seconds', args.seconds)
const UNDERLAY = args.underlay as Underlay
if (UNDERLAY !== 'wire' && UNDERLAY !== 'veth')
  throw new Error(`--underlay ${UNDERLAY}: use wire or veth`)
/** perf sample period: cpu-clock counts nanoseconds, so a sample stands for this much CPU. */
const PERIOD_NS = 250_000

const variants = parseVariants(
  args.modes!,
  ['routed', 'kernel', 'bpf', 'docker'] as const,
  args.variant!,
)
const steerings = parseColumnSteerings(
  { 'host-rps': args['host-rps']!, 'ep-rps': args['ep-rps']! },
  variants.map((v) => v.name),
)
if (process.getuid?.() !== 0)
  throw new Error('bench/cpu-breakdown.ts builds namespaces and runs perf: run it as root')

// --- perf -----------------------------------------------------------------------------------

function startPerf(file: string) {
  const p = Bun.spawn(
    ['perf', 'record', '-a', '-e', 'cpu-clock', '-c', String(PERIOD_NS), '-o', file, '-q'],
    { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' },
  )
  perfProcs.add(p)
  return p
}
const perfProcs = new Set<Bun.Subprocess>()

async function stopPerf(p: Bun.Subprocess<'ignore', 'pipe', 'pipe'>): Promise<void> {
  p.kill('SIGINT')
  const code = await p.exited
  perfProcs.delete(p)
  if (code !== 0 && code !== 130)
    throw new Error(`perf record exited ${code}: ${await new Response(p.stderr).text()}`)
}

/** Samples of the record by pid, comm and symbol, grouped. `ourPids`: the run's own processes. */
async function profile(file: string, ourPids: Set<number>): Promise<Profile> {
  const r = Bun.spawn(
    [
      'perf',
      'report',
      '-i',
      file,
      '--stdio',
      '--no-children',
      '-F',
      'sample,cpu,pid,sym',
      '-t',
      '\t',
      '-q',
    ],
    { stdout: 'pipe', stderr: 'pipe' },
  )
  // both pipes at once: a full stderr pipe must not stall perf while stdout is read
  const [text, err, code] = await Promise.all([
    new Response(r.stdout).text(),
    new Response(r.stderr).text(),
    r.exited,
  ])
  if (code !== 0) throw new Error(`perf report exited ${code}: ${err.trim()}`)
  return parsePerfReport(text, PERIOD_NS, ourPids)
}

// --- bpf_stats ----------------------------------------------------------------------------------

interface ProgStat {
  id: number
  name: string
  run_time_ns: number
  run_cnt: number
}

async function run(cmd: string[]): Promise<string> {
  const p = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ])
  if (code !== 0) throw new Error(`${cmd.join(' ')} exited ${code}: ${err.trim()}`)
  return out
}

/** The setup's datapath programs: every program that uses one of its nodes' pinned vx_eps maps. */
async function datapathProgs(s: Setup): Promise<Map<number, string>> {
  const mapIds: number[] = []
  for (const a of s.agents) {
    const m = JSON.parse(
      await run(['bpftool', '-j', 'map', 'show', 'pinned', `/sys/fs/bpf/weft/${a.node}/vx_eps`]),
    )
    mapIds.push(m.id)
  }
  const progs = JSON.parse(await run(['bpftool', '-j', 'prog', 'show'])) as {
    id: number
    name: string
    map_ids?: number[]
  }[]
  const out = new Map<number, string>()
  for (const p of progs) {
    const host = mapIds.findIndex((id) => p.map_ids?.includes(id))
    if (host >= 0) out.set(p.id, `${p.name}@h${host + 1}`)
  }
  if (out.size === 0) throw new Error(`no datapath program uses maps ${[...mapIds].join(',')}`)
  return out
}

async function progStats(ids: Map<number, string>): Promise<Map<number, ProgStat>> {
  const progs = JSON.parse(await run(['bpftool', '-j', 'prog', 'show'])) as ProgStat[]
  const out = new Map<number, ProgStat>()
  for (const p of progs)
    if (ids.has(p.id))
      out.set(p.id, {
        ...p,
        name: ids.get(p.id)!,
        run_time_ns: p.run_time_ns ?? 0,
        run_cnt: p.run_cnt ?? 0,
      })
  return out
}

// --- one run -------------------------------------------------------------------------------

const nstat = readAllCounters

interface Sample {
  /** TCP: receiver Gbit/s; UDP: 0 */
  gbps: number
  /** UDP: datagrams the receiving namespace's UDP took in, and the sender sent, per second /1000 */
  kppsDelivered?: number
  kppsSent?: number
  lostPercent?: number
  rcvbufErrors?: number
  /** UDP: the sending CPU's ns per datagram by group, and its total */
  sendingCpu?: { nsPerSegment: Record<string, number>; nsPerSegmentTotal: number }
  retransmits: number
  ofo: number
  dataSegments: number
  ipBytes: number
  /** ns per data segment by group (the run's contexts) */
  nsPerSegment: Record<string, number>
  /** total of nsPerSegment */
  nsPerSegmentTotal: number
  /** CPU-s per GB of IP bytes sent, the run's contexts */
  cpuSecondsPerGB: number
  /** share of the machine's busy CPU that was not the run's (other load, perf) */
  elsewhereShare: number
  /** per program: ns per run, runs per data segment, ns per data segment */
  bpf: Record<string, { nsPerRun: number; runsPerSegment: number; nsPerSegment: number }>
  /** machine-wide /proc/stat shares of busy time */
  cpuShares: { user: number; system: number; softirq: number }
  topSymbols: Record<string, number>
  /** /proc/loadavg's 1-minute figure when the run started */
  load1: number
}

async function measure(
  v: Variant,
  s: Setup,
  progs: Map<number, string> | undefined,
): Promise<Sample> {
  const file = join(tmpDir, `perf-${v.name}.data`)
  const load1 = Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0])
  const pidsBefore = startedPids.length
  const ourPids = new Set<number>([...s.servers.map((x) => x.pid)])
  const [c0, p0] = [await nstat(s.client), await nstat(s.remote.ns)]
  const b0 = progs ? await progStats(progs) : undefined
  const perf = startPerf(file)
  // perf writes its header once it has opened every CPU's event: wait for the file
  await waitFile(file)
  let r
  let u
  const cpu0 = readCpu()
  try {
    if (UDP) u = r = await udpRun(s.client, s.remote.ns, s.remote.ip, SECONDS)
    else r = await tcpRun(s.client, s.remote.ns, s.remote.ip, { seconds: SECONDS })
  } finally {
    await stopPerf(perf)
  }
  const cpu1 = readCpu()
  const busy = Math.max(1, cpu1.busy - cpu0.busy)
  const b1 = progs ? await progStats(progs) : undefined
  const [c1, p1] = [await nstat(s.client), await nstat(s.remote.ns)]
  for (const p of startedPids.slice(pidsBefore)) ourPids.add(p.pid)
  const prof = await profile(file, ourPids)
  rmSync(file, { force: true })

  const d = (a: Record<string, number>, b: Record<string, number>, k: string) =>
    (b[k] ?? 0) - (a[k] ?? 0)
  const segs = d(c0, c1, UDP ? 'UdpOutDatagrams' : 'TcpOutSegs')
  const ipBytes = d(c0, c1, 'IpExtOutOctets')
  if (segs <= 0) throw new Error(`${v.name}: no ${UNIT}s counted in ${s.client}`)
  if (ipBytes <= 0)
    throw new Error(`${v.name}: no IP bytes counted in ${s.client} (IpExtOutOctets)`)
  const nsPerSegment: Record<string, number> = {}
  let total = 0
  for (const [g, ns] of Object.entries(prof.ours)) {
    nsPerSegment[g] = ns / segs
    total += ns
  }
  const bpf: Sample['bpf'] = {}
  if (b0 && b1) {
    for (const [id, after] of b1) {
      const before = b0.get(id)
      if (!before) continue
      const runs = after.run_cnt - before.run_cnt
      const ns = after.run_time_ns - before.run_time_ns
      if (runs <= 0) continue
      bpf[after.name] = {
        nsPerRun: ns / runs,
        runsPerSegment: runs / segs,
        nsPerSegment: ns / segs,
      }
    }
  }
  const sending = prof.oursByCpu[CPU_CLIENT] ?? {}
  const sendingTotal = Object.values(sending).reduce((a, b) => a + b, 0)
  return {
    gbps: 'gbps' in r ? r.gbps : 0,
    ...(u && {
      kppsDelivered: u.rxPps / 1000,
      kppsSent: u.txPps / 1000,
      lostPercent: u.lostPercent,
      rcvbufErrors: u.rcvbufErrors,
      sendingCpu: {
        nsPerSegment: Object.fromEntries(Object.entries(sending).map(([g, ns]) => [g, ns / segs])),
        nsPerSegmentTotal: sendingTotal / segs,
      },
    }),
    retransmits: d(c0, c1, 'TcpRetransSegs'),
    ofo: d(p0, p1, 'TcpExtTCPOFOQueue'),
    dataSegments: segs,
    ipBytes,
    nsPerSegment,
    nsPerSegmentTotal: total / segs,
    cpuSecondsPerGB: total / 1e9 / (ipBytes / 1e9),
    elsewhereShare: prof.elsewhereNs / (prof.elsewhereNs + total),
    bpf,
    cpuShares: {
      user: (cpu1.user - cpu0.user) / busy,
      system: (cpu1.system - cpu0.system) / busy,
      softirq: (cpu1.softirq - cpu0.softirq) / busy,
    },
    topSymbols: Object.fromEntries(
      Object.entries(prof.topSymbols).map(([k, ns]) => [k, ns / segs]),
    ),
    load1,
  }
}

async function waitFile(path: string): Promise<void> {
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      if (readFileSync(path).length > 0) return
    } catch {
      // not there yet: perf is still opening its events
    }
    if (Date.now() > deadline) throw new Error(`perf record did not start (no ${path} after 10 s)`)
    await Bun.sleep(20)
  }
}

// --- main ------------------------------------------------------------------------------------

const tmpDir = join('/tmp', `weft-cpu-breakdown-${process.pid}`)
mkdirSync(tmpDir, { recursive: true })
const prefixes: string[] = []
const results: Record<string, Sample[]> = {}
let interrupted = false
process.on('SIGINT', () => {
  interrupted = true
})
const statsWas = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim()
const setStats = (v: string) => writeFileSync('/proc/sys/kernel/bpf_stats_enabled', v)

const teardownErrors: unknown[] = []
const restoreSockFlow = steerings.some((s) => s.flowCnt) ? enableSockFlowTable() : undefined
try {
  if (BPF_STATS) setStats('1')
  const setups = new Map<string, Setup>()
  const progs = new Map<string, Map<number, string>>()
  for (const v of variants) {
    process.stderr.write(`${UNDERLAY} · ${v.name}: setup\n`)
    const s = await buildVariantSetup(v, UNDERLAY, prefixes)
    setups.set(v.name, s)
    await applySteerings(v.name, s, steerings)
    if (v.mode === 'bpf' && BPF_STATS) progs.set(v.name, await datapathProgs(s))
  }
  for (let round = 0; round < ROUNDS && !interrupted; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!)
    for (const v of order) {
      if (interrupted) break
      const s = await measure(v, setups.get(v.name)!, progs.get(v.name))
      ;(results[v.name] ??= []).push(s)
      const bpfNs = Object.values(s.bpf).reduce((a, b) => a + b.nsPerSegment, 0)
      const rate = UDP
        ? `${s.kppsDelivered!.toFixed(1)} kpps delivered (sent ${s.kppsSent!.toFixed(1)}), sending CPU ${s.sendingCpu!.nsPerSegmentTotal.toFixed(0)} ns/datagram`
        : `${s.gbps.toFixed(2)} Gbit/s`
      process.stderr.write(
        `${v.name} · round ${round + 1}: ${rate}, ${s.nsPerSegmentTotal.toFixed(0)} ns/${UNIT} ` +
          `(bpf programs ${bpfNs.toFixed(0)}), ${s.retransmits} retr, ${s.ofo} OFO, ` +
          `elsewhere ${(100 * s.elsewhereShare).toFixed(0)} %, load ${s.load1}\n`,
      )
    }
  }
  // a teardown fault must not cost the run's figures: written first, the fault thrown after
  for (const s of setups.values()) await s.destroy().catch((e) => teardownErrors.push(e))
} finally {
  if (BPF_STATS) setStats(statsWas)
  restoreSockFlow?.()
  for (const p of perfProcs) {
    p.kill('SIGINT')
    await p.exited
  }
  await stopAll()
  for (const t of [...liveTopologies]) {
    liveTopologies.delete(t)
    await t.destroy().catch((e) => teardownErrors.push(e))
  }
  rmSync(tmpDir, { recursive: true, force: true })
}

// --- medians, table, files ------------------------------------------------------------------------
const groupNames = GROUP_NAMES
const med = (xs: Sample[], f: (s: Sample) => number) => median(xs.map(f))
const summary = Object.fromEntries(
  Object.entries(results).map(([name, xs]) => [
    name,
    {
      gbps: med(xs, (s) => s.gbps),
      kppsDelivered: med(xs, (s) => s.kppsDelivered ?? 0),
      kppsSent: med(xs, (s) => s.kppsSent ?? 0),
      lostPercent: med(xs, (s) => s.lostPercent ?? 0),
      rcvbufErrors: med(xs, (s) => s.rcvbufErrors ?? 0),
      sendingCpuNsPerSegmentTotal: med(xs, (s) => s.sendingCpu?.nsPerSegmentTotal ?? 0),
      sendingCpuNsPerSegment: Object.fromEntries(
        groupNames.map((g) => [g, med(xs, (s) => s.sendingCpu?.nsPerSegment[g] ?? 0)]),
      ),
      retransmits: med(xs, (s) => s.retransmits),
      ofo: med(xs, (s) => s.ofo),
      nsPerSegmentTotal: med(xs, (s) => s.nsPerSegmentTotal),
      cpuSecondsPerGB: med(xs, (s) => s.cpuSecondsPerGB),
      elsewhereShare: med(xs, (s) => s.elsewhereShare),
      cpuShares: {
        user: med(xs, (s) => s.cpuShares.user),
        system: med(xs, (s) => s.cpuShares.system),
        softirq: med(xs, (s) => s.cpuShares.softirq),
      },
      nsPerSegment: Object.fromEntries(
        groupNames.map((g) => [g, med(xs, (s) => s.nsPerSegment[g] ?? 0)]),
      ),
      bpf: Object.fromEntries(
        Object.keys(xs[0]?.bpf ?? {}).map((p) => [
          p,
          {
            nsPerRun: med(xs, (s) => s.bpf[p]?.nsPerRun ?? 0),
            runsPerSegment: med(xs, (s) => s.bpf[p]?.runsPerSegment ?? 0),
            nsPerSegment: med(xs, (s) => s.bpf[p]?.nsPerSegment ?? 0),
          },
        ]),
      ),
    },
  ]),
)
const names = Object.keys(summary)
const base = summary.routed
const lines = [
  `\n${UDP ? 'UDP 64 B' : 'TCP 1 stream'}, ${UNDERLAY} underlay, ${SECONDS} s per run, medians of ${ROUNDS} alternating rounds`,
  `ns of CPU per ${UNIT}${UDP ? '' : ' (MSS on the wire)'}, in the contexts that carry the run's packets`,
  `| where | ${names.join(' | ')} |`,
  `| --- | ${names.map(() => '---:').join(' | ')} |`,
]
const row = (label: string, f: (x: (typeof summary)[string]) => number, digits = 0) =>
  `| ${label} | ${names
    .map((n) => {
      const v = f(summary[n]!)
      const r = base && n !== 'routed' && f(base) > 0 ? ` (${(v / f(base)).toFixed(2)}x)` : ''
      return v.toFixed(digits) + r
    })
    .join(' | ')} |`
for (const g of groupNames) lines.push(row(g, (x) => x.nsPerSegment[g] ?? 0))
lines.push(row(`**total ns / ${UNIT}**`, (x) => x.nsPerSegmentTotal))
if (UDP) {
  lines.push(
    row(`**sending CPU (CPU ${CPU_CLIENT}): ns / ${UNIT}**`, (x) => x.sendingCpuNsPerSegmentTotal),
  )
  lines.push(row('kpps delivered (receiving namespace UDP)', (x) => x.kppsDelivered, 1))
  lines.push(row('kpps sent (iperf3)', (x) => x.kppsSent, 1))
  lines.push(row('lost %', (x) => x.lostPercent, 2))
  lines.push(row('receiver UdpRcvbufErrors', (x) => x.rcvbufErrors))
} else {
  lines.push(row('CPU-s per GB', (x) => x.cpuSecondsPerGB, 2))
  lines.push(row('Gbit/s', (x) => x.gbps, 2))
  lines.push(row('retransmits', (x) => x.retransmits))
  lines.push(row('receiver OFO queueings', (x) => x.ofo))
}
lines.push(row('elsewhere on the machine (share)', (x) => x.elsewhereShare, 2))
lines.push(row('machine-wide /proc/stat: user share', (x) => x.cpuShares.user, 2))
lines.push(row('machine-wide /proc/stat: system share', (x) => x.cpuShares.system, 2))
lines.push(row('machine-wide /proc/stat: softirq share', (x) => x.cpuShares.softirq, 2))
if (UDP) {
  lines.push(
    '',
    `sending CPU (CPU ${CPU_CLIENT}) alone, ns per ${UNIT}`,
    `| where | ${names.join(' | ')} |`,
    `| --- | ${names.map(() => '---:').join(' | ')} |`,
  )
  for (const g of groupNames) lines.push(row(g, (x) => x.sendingCpuNsPerSegment[g] ?? 0))
}
for (const [n, x] of Object.entries(summary))
  for (const [p, b] of Object.entries(x.bpf))
    lines.push(
      `${n} ${p}: ${b.nsPerRun.toFixed(0)} ns/run, ${b.runsPerSegment.toFixed(3)} runs/${UNIT}, ${b.nsPerSegment.toFixed(1)} ns/${UNIT}`,
    )
console.log(lines.join('\n'))

const date = new Date().toISOString().slice(0, 10)
mkdirSync(args.out!, { recursive: true })
const base_ = join(
  args.out!,
  `cpu-breakdown-${date}${UDP ? '-udp' : ''}${args.tag ? `-${args.tag}` : ''}`,
)
writeFileSync(
  `${base_}.json`,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      underlay: UNDERLAY,
      load: UDP ? 'udp64' : 'tcp1',
      unit: UNIT,
      loadavg: readFileSync('/proc/loadavg', 'utf8').trim(),
      seconds: SECONDS,
      rounds: ROUNDS,
      perfPeriodNs: PERIOD_NS,
      bpfStats: BPF_STATS,
      kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
      summary,
      results,
    },
    null,
    2,
  ),
)
const COLORS = ['#9e9e9e', '#f28e2b', '#4e79a7', '#59a14f', '#e15759', '#76b7b2']
writeFileSync(
  `${base_}.svg`,
  barChartSvg({
    title: `Where the CPU goes per ${UDP ? '64 B UDP datagram' : 'TCP data segment'} — ${UNDERLAY} underlay, ${date}`,
    subtitle: `ns per ${UNIT}, medians of ${ROUNDS} alternating rounds (perf cpu-clock + bpf_stats)`,
    groups: groupNames
      .filter((g) => names.some((n) => (summary[n]!.nsPerSegment[g] ?? 0) >= 5))
      .map((g) => SHORT_LABEL[g] ?? g),
    series: names.map((n, i) => ({ name: n, color: COLORS[i % COLORS.length]! })),
    panels: [
      {
        title: `ns of CPU per ${UNIT}`,
        values: names.flatMap((n) =>
          groupNames.map((g) => ({
            group: SHORT_LABEL[g] ?? g,
            series: n,
            value: summary[n]!.nsPerSegment[g] ?? 0,
          })),
        ),
      },
    ],
    panelWidth: 1200,
    panelHeight: 260,
  }),
)
process.stderr.write(`wrote ${base_}.json and .svg\n`)

if (teardownErrors.length)
  throw new Error(
    `teardown failed (the figures were written first):\n${teardownErrors.map(String).join('\n')}`,
  )
await finish(prefixes, interrupted)
