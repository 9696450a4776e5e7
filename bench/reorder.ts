// Reordering evidence: single-stream TCP per datapath with the counters that tell reordering
// from loss, on the bench's own topologies (bench/lib/setups.ts). As root:
//
//   bun run bench/reorder.ts [--underlays wire,veth] [--modes routed,kernel,bpf] [--same-host]
//        [--rounds 3] [--seconds 8] [--variant name=path/to/weft ...] [--json FILE]
//        [--cpu-split] [--client-sysctl name:key=value ...] [--host-rps name:MASK[:rfs] ...]
//        [--ep-rps name:MASK[:rfs] ...]
//
// Every setup of an underlay is built first and kept up; rounds then alternate the modes (order
// rotated each round) so background load spreads over all of them. Per run: iperf3 -P 1 (client
// CPU 0, server CPU 1, as bench/run.ts), nstat deltas in the sender's namespace (retransmits,
// SACK/DSACK reorder signs, spurious retransmits that were still queued on the host) and in the
// receiver's (out-of-order queueings, receive-queue drops), and /proc/net/softnet_stat deltas
// per CPU (packets handled, backlog drops, squeezes). A variant is a bpf setup whose agents run
// another weft binary (WEFT_AGENT_CMD): build the "before" tree's dist/weft and A/B it against
// this tree's in the same run. `--cpu-split` adds on which CPU the flow's data and ACKs crossed
// the client's host veth (perf stat on two net tracepoints, ./lib/cpu-split.ts);
// `--client-sysctl` sets a sysctl in one column's client namespace (e.g. TCP small queues);
// `--host-rps name:MASK` sets rps_cpus on the host-side veth of each of that column's containers
// (the endpoint's first hop: one flow then runs on one CPU's backlog from there on), `--ep-rps`
// on each container's own eth0 (where ACKs enter the sender); `:rfs` makes it RFS (steered to
// the CPU the socket's process last ran on; the global socket flow table is set and restored).
// Findings: docs/PERF-NOTES.md ("Reordering").
import { readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import {
  buildVariantSetup,
  finish,
  parseVariants,
  positiveFlag,
  type Variant,
} from './lib/script.ts'
import { stopAll } from './lib/procs.ts'
import { liveTopologies, type Setup, type Underlay } from './lib/setups.ts'
import { median } from './lib/stats.ts'
import { readAllCounters, tcpRun } from './lib/tools.ts'
import { runInNs } from './lib/procs.ts'
import { applySteerings, enableSockFlowTable, parseColumnSteerings } from './lib/rps.ts'
import {
  busyShares,
  countCpuSplit,
  hostVethOf,
  perCpuJiffies,
  shareOffCpu,
  type CpuSplit,
} from './lib/cpu-split.ts'

const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    underlays: { type: 'string', default: 'wire,veth' },
    modes: { type: 'string', default: 'routed,kernel,bpf' },
    variant: { type: 'string', multiple: true, default: [] },
    'same-host': { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '8' },
    json: { type: 'string' },
    'client-sysctl': { type: 'string', multiple: true, default: [] },
    'cpu-split': { type: 'boolean', default: false },
    'host-rps': { type: 'string', multiple: true, default: [] },
    'ep-rps': { type: 'string', multiple: true, default: [] },
  },
  strict: true,
})
const ROUNDS = positiveFlag('rounds', args.rounds)
const SECONDS = positiveFlag('seconds', args.seconds)
const UNDERLAYS = args.underlays!.split(',') as Underlay[]
for (const u of UNDERLAYS)
  if (u !== 'wire' && u !== 'veth') throw new Error(`unknown underlay ${u}: use wire,veth`)

const variants = parseVariants(args.modes!, ['routed', 'kernel', 'bpf'] as const, args.variant!)
/** `--client-sysctl name:key=value`: a sysctl set in setup `name`'s client namespace (a
 * diagnostic: e.g. whether TCP small queues shape a mode's reordering). */
const clientSysctls = args['client-sysctl']!.map((a) => {
  const m = /^([^:]+):([a-z0-9_.]+)=(\S+)$/.exec(a)
  if (!m) throw new Error(`--client-sysctl ${a}: use name:key=value (name = a mode or variant)`)
  if (!variants.some((v) => v.name === m[1]))
    throw new Error(`--client-sysctl ${a}: no column named ${m[1]}`)
  return { name: m[1]!, key: m[2]!, value: m[3]! }
})
/** `--host-rps` / `--ep-rps name:MASK[:rfs]`: RPS or RFS on a column's endpoint veths. */
const steerings = parseColumnSteerings(
  { 'host-rps': args['host-rps']!, 'ep-rps': args['ep-rps']! },
  variants.map((v) => v.name),
)
if (process.getuid?.() !== 0) throw new Error('bench/reorder.ts builds namespaces: run it as root')

/** Sender-side (client) and receiver-side (server) nstat counters that tell reordering from loss. */
const SENDER = [
  'TcpRetransSegs',
  'TcpExtTCPFastRetrans',
  'TcpExtTCPSACKReorder',
  'TcpExtTCPDSACKRecv',
  'TcpExtTCPSpuriousRtxHostQueues',
  'TcpExtTCPLossProbes',
  'TcpExtTCPTimeouts',
] as const
const RECEIVER = [
  'TcpExtTCPOFOQueue',
  'TcpExtTCPDSACKOldSent',
  'TcpExtTCPRcvQDrop',
  'TcpExtTCPOFODrop',
  'TcpExtTCPBacklogDrop',
  'IpInDiscards',
] as const

/** Text output, not `nstat -j` (its JSON wraps counters at 2^32: see readAllCounters). */
const nstat = readAllCounters

/** /proc/net/softnet_stat per CPU: processed, dropped (backlog full), time_squeeze. */
function softnet(): number[][] {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .trim()
    .split('\n')
    .map((l) =>
      l
        .trim()
        .split(/\s+/)
        .slice(0, 3)
        .map((h) => parseInt(h, 16)),
    )
}

interface Sample {
  gbps: number
  counters: Record<string, number>
  /** per CPU: packets processed, backlog drops, squeezes */
  softnet: number[][]
  /** with --cpu-split: on which CPU the flow's data and ACKs crossed the client's host veth */
  split?: CpuSplit
}

type PathKind = 'remote' | 'same-host'

async function measure(s: Setup, path: PathKind): Promise<Sample> {
  const peer = path === 'remote' ? s.remote : s.local
  const [c0, p0, n0] = [await nstat(s.client), await nstat(peer.ns), softnet()]
  const dev = args['cpu-split'] ? await hostVethOf(s.client, s.topo.hosts[0]!.ns) : undefined
  const counting = dev ? countCpuSplit(s.client, dev, SECONDS) : undefined
  const j0 = perCpuJiffies()
  const r = await tcpRun(s.client, peer.ns, peer.ip, { seconds: SECONDS })
  const j1 = perCpuJiffies()
  const counted = await counting
  const split = counted ? { ...counted, busy: busyShares(j0, j1) } : undefined
  const [c1, p1, n1] = [await nstat(s.client), await nstat(peer.ns), softnet()]
  const counters: Record<string, number> = {}
  for (const k of SENDER) counters[k] = (c1[k] ?? 0) - (c0[k] ?? 0)
  for (const k of RECEIVER) counters[k] = (p1[k] ?? 0) - (p0[k] ?? 0)
  const softnetDelta = n1.map((row, i) => row.map((v, j) => v - n0[i]![j]!))
  return { gbps: r.gbps, counters, softnet: softnetDelta, ...(split ? { split } : {}) }
}

/** The client runs on CPU 0 and the server on CPU 1 (bench/lib/tools.ts): data on CPU 1 was sent
 * from softirq (ACK processing), ACKs on CPU 0 were sent from softirq where data arrived. */
const dataOff = (x: CpuSplit) => shareOffCpu(x.data, 0)
const acksOff = (x: CpuSplit) => shareOffCpu(x.acks, 1)
const splitText = (x: CpuSplit) =>
  `data ${x.data.join('/')} per CPU (${(100 * dataOff(x)).toFixed(1)}% not on the client's CPU), ` +
  `ACKs ${x.acks.join('/')} (${(100 * acksOff(x)).toFixed(1)}% not on the server's), ` +
  `CPUs busy ${(x.busy ?? []).map((b) => `${Math.round(100 * b)}%`).join('/')}`

const results: Record<string, Record<string, Sample[]>> = {}
const prefixes: string[] = []
let interrupted = false
process.on('SIGINT', () => {
  interrupted = true
})

const restoreSockFlow = steerings.some((s) => s.flowCnt) ? enableSockFlowTable() : undefined

const teardownAll = async () => {
  restoreSockFlow?.()
  await stopAll()
  for (const t of [...liveTopologies]) {
    liveTopologies.delete(t)
    await t.destroy()
  }
}

try {
  for (const [ui, underlay] of UNDERLAYS.entries()) {
    const setups = new Map<string, Setup>()
    for (const v of variants) {
      process.stderr.write(`${underlay} · ${v.name}: setup\n`)
      const s = await buildVariantSetup(v, underlay, prefixes)
      setups.set(v.name, s)
      for (const c of clientSysctls.filter((c) => c.name === v.name)) {
        const r = await runInNs(s.client, ['sysctl', '-w', `${c.key}=${c.value}`])
        if (r.code !== 0) throw new Error(`sysctl ${c.key} in ${s.client}: ${r.stderr.trim()}`)
      }
      await applySteerings(v.name, s, steerings)
    }
    const paths: PathKind[] = ui === 0 && args['same-host'] ? ['remote', 'same-host'] : ['remote']
    for (let round = 0; round < ROUNDS && !interrupted; round++) {
      const order = variants.map((_, i) => variants[(i + round) % variants.length]!)
      for (const v of order) {
        for (const path of paths) {
          if (interrupted) break
          const key = path === 'remote' ? underlay : 'same-host'
          const s = await measure(setups.get(v.name)!, path)
          ;((results[key] ??= {})[v.name] ??= []).push(s)
          process.stderr.write(
            `${key} · ${v.name} · round ${round + 1}: ${s.gbps.toFixed(2)} Gbit/s, ` +
              `${s.counters.TcpRetransSegs} retr, ${s.counters.TcpExtTCPOFOQueue} OFO, ` +
              `${s.counters.TcpExtTCPSACKReorder} SACK reorder, ${s.counters.TcpExtTCPDSACKRecv} DSACK, ` +
              `softnet per CPU ${s.softnet.map((c) => c[0]).join('/')} (drops ${s.softnet.map((c) => c[1]).join('/')})` +
              (s.split ? `, ${splitText(s.split)}` : '') +
              '\n',
          )
        }
      }
    }
    for (const s of setups.values()) await s.destroy()
    if (interrupted) break
  }
} finally {
  await teardownAll()
}

// --- table of medians, ratios to routed ---------------------------------------------------------
const cols = [
  'gbps',
  'TcpRetransSegs',
  'TcpExtTCPOFOQueue',
  'TcpExtTCPSACKReorder',
  'TcpExtTCPDSACKRecv',
]
const lines: string[] = []
for (const [key, byMode] of Object.entries(results)) {
  lines.push(`\n${key} (${SECONDS} s per run, medians of ${ROUNDS} rounds; x = / routed)`)
  const withSplit = Object.values(byMode).every((ss) => ss.every((x) => x.split))
  lines.push(
    `| mode | Gbit/s | retransmits | receiver OFO | SACK reorder | DSACK |` +
      (withSplit ? ' data off client CPU | ACKs off server CPU | CPUs busy |' : '') +
      ` samples (Gbit/s retr OFO) |`,
  )
  lines.push(
    `| --- | ---: | ---: | ---: | ---: | ---: |${withSplit ? ' ---: | ---: | ---: |' : ''} --- |`,
  )
  const med = (mode: string, c: string) =>
    median((byMode[mode] ?? []).map((s) => (c === 'gbps' ? s.gbps : s.counters[c]!)))
  for (const mode of Object.keys(byMode)) {
    const cells = cols.map((c) => {
      const v = med(mode, c)
      const base = med('routed', c)
      const ratio =
        byMode.routed && mode !== 'routed' && base > 0 ? ` (${(v / base).toFixed(2)}x)` : ''
      return (c === 'gbps' ? v.toFixed(2) : String(Math.round(v))) + ratio
    })
    const samples = byMode[mode]!.map(
      (s) => `${s.gbps.toFixed(1)} ${s.counters.TcpRetransSegs} ${s.counters.TcpExtTCPOFOQueue}`,
    ).join('; ')
    const pct = (f: (x: CpuSplit) => number) =>
      `${(100 * median(byMode[mode]!.map((x) => f(x.split!)))).toFixed(1)}%`
    const busy = (cpu: number) => pct((x) => x.busy?.[cpu] ?? 0)
    const split = withSplit ? ` ${pct(dataOff)} | ${pct(acksOff)} | ${busy(0)} / ${busy(1)} |` : ''
    lines.push(`| ${mode} | ${cells.join(' | ')} |${split} ${samples} |`)
  }
}
console.log(lines.join('\n'))
if (args.json)
  writeFileSync(args.json, JSON.stringify({ seconds: SECONDS, rounds: ROUNDS, results }, null, 2))

await finish(prefixes, interrupted)
