// Load generators and meters: iperf3 (TCP streams, UDP 64-byte packets), sockperf
// (UDP ping-pong round trips) and /proc/stat CPU accounting. Client and server are pinned
// with taskset to CPU_CLIENT and CPU_SERVER, the same in every mode. Parsers are exported
// pure functions so they are unit-tested without a network.
import { readFileSync } from 'node:fs'
import { runInNs, startIn, type Started } from './procs.ts'

export const CPU_CLIENT = 0
export const CPU_SERVER = 1
export const IPERF_PORT = 5201
export const SOCKPERF_PORT = 11111

// --- parsers -------------------------------------------------------------------------

export interface TcpResult {
  gbps: number
  bytes: number
  retransmits: number
  seconds: number
}

/** iperf3 -J output of a TCP test: receiver throughput, sender retransmits. */
export function parseIperfTcp(json: string): TcpResult {
  const j = JSON.parse(json)
  if (j.error) throw new Error(`iperf3: ${j.error}`)
  const rx = j.end?.sum_received
  const tx = j.end?.sum_sent
  if (!rx || !tx) throw new Error('iperf3 -J output has no end.sum_received/sum_sent')
  return {
    gbps: rx.bits_per_second / 1e9,
    bytes: rx.bytes,
    retransmits: tx.retransmits ?? 0,
    seconds: rx.seconds,
  }
}

export interface UdpResult {
  /** Datagrams the server received per second. */
  rxPps: number
  txPps: number
  lostPercent: number
  rxPackets: number
}

/**
 * iperf3 -J output of a UDP test: datagrams the receiver got per second. The receiver's own
 * byte count (end.sum_received over the datagram size) when iperf3 gives it: its lost count
 * comes from sequence numbers, which -O's reset at the end of the warm-up skews (seen: 11,184
 * "lost" of 10,930 sent while the receiver counted 4,328 datagrams). Else sent minus lost.
 */
export function parseIperfUdp(json: string): UdpResult {
  const j = JSON.parse(json)
  if (j.error) throw new Error(`iperf3: ${j.error}`)
  const s = j.end?.sum
  if (!s || typeof s.packets !== 'number')
    throw new Error('iperf3 -J output has no end.sum.packets')
  const recv = j.end?.sum_received
  const blksize = j.start?.test_start?.blksize
  if (recv && typeof recv.bytes === 'number' && recv.seconds > 0 && blksize > 0) {
    const rxPackets = Math.round(recv.bytes / blksize)
    return {
      rxPps: rxPackets / recv.seconds,
      txPps: s.packets / s.seconds,
      lostPercent: s.packets ? Math.max(0, 100 * (1 - rxPackets / s.packets)) : 0,
      rxPackets,
    }
  }
  // never report fewer than nothing when the lost count exceeds what the sender counted
  const rxPackets = Math.max(0, s.packets - (s.lost_packets ?? 0))
  return {
    rxPps: rxPackets / s.seconds,
    txPps: s.packets / s.seconds,
    lostPercent: s.lost_percent ?? 0,
    rxPackets,
  }
}

/**
 * Seconds the iperf3 UDP sender was sending: every interval of its -J output, the -O warm-up
 * ones included (packets flow during those too, and the namespace counters see them).
 */
export function udpSendingSeconds(json: string): number {
  const j = JSON.parse(json)
  const intervals = (j.intervals ?? []) as { sum?: { seconds?: number } }[]
  const sum = intervals.reduce((a, i) => a + (i.sum?.seconds ?? 0), 0)
  if (sum > 0) return sum
  const fallback = (j.end?.sum?.seconds ?? 0) + (j.start?.test_start?.omit ?? 0)
  if (!(fallback > 0)) throw new Error('iperf3 -J output has no interval or end.sum.seconds')
  return fallback
}

/** Datagrams the iperf3 UDP sender sent over the same intervals (undefined if not reported). */
export function udpSentPackets(json: string): number | undefined {
  const intervals = (JSON.parse(json).intervals ?? []) as { sum?: { packets?: number } }[]
  if (!intervals.length || intervals.some((i) => typeof i.sum?.packets !== 'number'))
    return undefined
  return intervals.reduce((a, i) => a + i.sum!.packets!, 0)
}

/**
 * Datagrams the receiving namespace's UDP took in between two counter readings: read by a
 * socket (UdpInDatagrams) or dropped because its receive buffer was full (UdpRcvbufErrors) —
 * everything the datapath delivered, whatever the receiving program managed to read.
 */
export function udpDelivered(before: Counters, after: Counters): number {
  const d = (k: string) => (after[k] ?? 0) - (before[k] ?? 0)
  return d('UdpInDatagrams') + d('UdpRcvbufErrors')
}

/** Busy share (0..1, everything but idle and iowait) of each CPU between two /proc/stat texts. */
export function perCpuBusy(before: string, after: string): number[] {
  const rows = (t: string) =>
    t
      .split('\n')
      .filter((l) => /^cpu\d+ /.test(l))
      .map((l) => {
        const f = l.trim().split(/\s+/).slice(1, 9).map(Number)
        const total = f.reduce((a, b) => a + b, 0)
        return { total, idle: f[3]! + f[4]! }
      })
  const a = rows(before)
  const b = rows(after)
  if (!a.length || a.length !== b.length) throw new Error('/proc/stat has no per-CPU lines')
  return a.map((x, i) => {
    const total = b[i]!.total - x.total
    return total > 0 ? (total - (b[i]!.idle - x.idle)) / total : 0
  })
}

export interface LatencyResult {
  p50us: number
  p99us: number
  avgUs: number
  observations: number
}

/** sockperf ping-pong summary (run with --full-rtt: values are round trips in µs). */
export function parseSockperf(out: string): LatencyResult {
  const num = (re: RegExp) => {
    const m = out.match(re)
    if (!m) throw new Error(`sockperf output lacks ${re}: ${out.slice(-400)}`)
    return Number(m[1])
  }
  return {
    p50us: num(/percentile 50\.000 =\s*([\d.]+)/),
    p99us: num(/percentile 99\.000 =\s*([\d.]+)/),
    avgUs: num(/avg-(?:rtt|latency)\s*=\s*([\d.]+)/),
    observations: num(/(\d+) observations/),
  }
}

export interface CpuSample {
  busy: number
  total: number
  user: number
  system: number
  softirq: number
}

/** Aggregate "cpu" line of /proc/stat: busy = everything but idle and iowait (jiffies). */
export function parseProcStat(text: string): CpuSample {
  const line = text.split('\n').find((l) => l.startsWith('cpu '))
  if (!line) throw new Error('/proc/stat has no aggregate cpu line')
  // user nice system idle iowait irq softirq steal guest guest_nice (guest is inside user)
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0)
  const idle = f[3]! + f[4]!
  return { busy: total - idle, total, user: f[0]! + f[1]!, system: f[2]!, softirq: f[5]! + f[6]! }
}

/** CPU seconds spent (all CPUs) between two samples; /proc/stat counts in USER_HZ = 100. */
export const cpuSeconds = (a: CpuSample, b: CpuSample) => (b.busy - a.busy) / 100

export const readCpu = (): CpuSample => parseProcStat(readFileSync('/proc/stat', 'utf8'))

// --- runners -------------------------------------------------------------------------

const pin = (cpu: number, cmd: string[]) => ['taskset', '-c', String(cpu), ...cmd]

/** Long-running servers in one namespace: iperf3 -s and sockperf sr, pinned to CPU_SERVER. */
export async function startServers(ns: string, ip: string): Promise<Started[]> {
  const iperf = startIn(ns, pin(CPU_SERVER, ['iperf3', '-s', '-B', ip, '-p', String(IPERF_PORT)]))
  const sock = startIn(
    ns,
    pin(CPU_SERVER, ['sockperf', 'sr', '-i', ip, '-p', String(SOCKPERF_PORT)]),
  )
  // both block-buffer their stdout when it is a pipe: ask ss whether the sockets are bound
  const deadline = Date.now() + 5000
  const ready = async () => {
    const r = await runInNs(ns, [
      'ss',
      '-Hln',
      `( sport = :${IPERF_PORT} or sport = :${SOCKPERF_PORT} )`,
      '-tu',
    ])
    return r.stdout.includes(`:${IPERF_PORT}`) && r.stdout.includes(`:${SOCKPERF_PORT}`)
  }
  while (!(await ready())) {
    if (Date.now() > deadline) {
      await Promise.all([iperf.stop(), sock.stop()])
      throw new Error(
        `servers in ${ns} did not start: iperf3: ${iperf.stderr()} sockperf: ${sock.stderr()}`,
      )
    }
    await Bun.sleep(20)
  }
  return [iperf, sock]
}

export interface TcpOptions {
  seconds: number
  streams?: number
  /** Rate limit per stream, e.g. "2G" (iperf3 -b). */
  rate?: string
  /** Server port as the client dials it (a published port differs from the server's own). */
  port?: number
}

/** Common iperf3 flags, identical for every mode: 1 s omitted as warm-up, JSON output. */
const iperfBase = (ip: string, seconds: number, port = IPERF_PORT) => [
  'iperf3',
  '-c',
  ip,
  '-p',
  String(port),
  '-t',
  String(seconds),
  '-O',
  '1',
  '-J',
  '--connect-timeout',
  '3000',
]

export interface CpuSplit {
  /** CPU seconds (all CPUs) in the measured window */
  cpuSeconds: number
  /** shares of the busy time */
  userShare: number
  systemShare: number
  softirqShare: number
}

/**
 * iperf3 serves one test at a time and refuses the next ("server is busy") while it still
 * tears the last one down: wait until its port has no connection left (poll, 5 s at most).
 */
export async function waitIperfIdle(serverNs: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (Date.now() < deadline) {
    // established/close-wait only: TIME_WAIT remnants of the last test do not keep iperf3 busy
    const r = await runInNs(serverNs, [
      'ss',
      '-Htn',
      'state',
      'established',
      'state',
      'close-wait',
      `( sport = :${IPERF_PORT} )`,
    ])
    if (r.stdout.trim() === '') return
    await Bun.sleep(20)
  }
}

/** Run an iperf3 client; a "server is busy" refusal (a harness matter, not the datapath) is retried. */
async function iperfClient(ns: string, serverNs: string, cmd: string[], seconds: number) {
  for (let attempt = 0; ; attempt++) {
    await waitIperfIdle(serverNs)
    const r = await runInNs(ns, pin(CPU_CLIENT, cmd), { timeoutMs: (seconds + 20) * 1000 })
    if (r.code !== 0 && attempt < 3 && /server is busy/.test(r.stdout + r.stderr)) {
      await Bun.sleep(200)
      continue
    }
    return r
  }
}

export async function tcpRun(
  ns: string,
  serverNs: string,
  ip: string,
  o: TcpOptions,
): Promise<TcpResult & CpuSplit> {
  const cmd = [...iperfBase(ip, o.seconds, o.port), '-P', String(o.streams ?? 1)]
  if (o.rate) cmd.push('-b', o.rate)
  await waitIperfIdle(serverNs)
  const before = readCpu()
  const r = await iperfClient(ns, serverNs, cmd, o.seconds)
  const after = readCpu()
  if (r.code !== 0)
    throw new Error(
      `iperf3 TCP to ${ip} exited ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${errorOf(r.stdout, r.stderr)}`,
    )
  // the CPU window includes the 1 s warm-up; scale to the measured seconds
  const res = parseIperfTcp(r.stdout)
  const window = cpuSeconds(before, after) * (res.seconds / (res.seconds + 1))
  const busy = Math.max(1, after.busy - before.busy)
  return {
    ...res,
    cpuSeconds: window,
    userShare: (after.user - before.user) / busy,
    systemShare: (after.system - before.system) / busy,
    softirqShare: (after.softirq - before.softirq) / busy,
  }
}

/**
 * Receive buffer asked of both iperf3 sockets for 64 B UDP (-w): the default (~200 KB, about
 * 600 small datagrams of truesize) overflows whenever the receiver is descheduled for a
 * moment, so iperf3's count partly measured its own receive loop, not the path.
 */
export const UDP_SOCKET_BUFFER = '4M'

export interface UdpRun extends UdpResult {
  /** Datagrams iperf3 itself counted per second (rxPps is what the namespace's UDP took in). */
  appRxPps: number
  /** Datagrams dropped at the receiving socket (its buffer full), over the run. */
  rcvbufErrors: number
  /** Busy share of each CPU over the run (CPU_CLIENT carries the sender and the path's softirq). */
  cpuBusy: number[]
}

/**
 * 64 B UDP at full speed. rxPps is the datagrams the receiving namespace's UDP took in per
 * second of sending (udpDelivered, udpSendingSeconds): the path's figure, not iperf3's.
 */
export async function udpRun(
  ns: string,
  serverNs: string,
  ip: string,
  seconds: number,
  port = IPERF_PORT,
): Promise<UdpRun> {
  const cmd = [
    ...iperfBase(ip, seconds, port),
    '-u',
    '-l',
    '64',
    '-b',
    '0',
    '-w',
    UDP_SOCKET_BUFFER,
  ]
  await waitIperfIdle(serverNs)
  const before = await readCounters(serverNs)
  const stat0 = readFileSync('/proc/stat', 'utf8')
  const r = await iperfClient(ns, serverNs, cmd, seconds)
  const stat1 = readFileSync('/proc/stat', 'utf8')
  const after = await readCounters(serverNs)
  if (r.code !== 0)
    throw new Error(`iperf3 UDP to ${ip} exited ${r.code}: ${errorOf(r.stdout, r.stderr)}`)
  const app = parseIperfUdp(r.stdout)
  const delivered = udpDelivered(before, after)
  const rxPps = delivered / udpSendingSeconds(r.stdout)
  // lost: sent against delivered over the same span, warm-up included on both sides
  const sent = udpSentPackets(r.stdout)
  const lostPercent =
    sent !== undefined
      ? sent > 0
        ? Math.max(0, 100 * (1 - delivered / sent))
        : 0
      : app.txPps > 0
        ? Math.max(0, 100 * (1 - rxPps / app.txPps))
        : 0
  return {
    ...app,
    rxPps,
    rxPackets: delivered,
    lostPercent,
    appRxPps: app.rxPps,
    rcvbufErrors: (after.UdpRcvbufErrors ?? 0) - (before.UdpRcvbufErrors ?? 0),
    cpuBusy: perCpuBusy(stat0, stat1),
  }
}

export async function latencyRun(
  ns: string,
  ip: string,
  seconds: number,
  port = SOCKPERF_PORT,
): Promise<LatencyResult> {
  const cmd = ['sockperf', 'pp', '-i', ip, '-p', String(port), '-t', String(seconds), '--full-rtt']
  const r = await runInNs(ns, pin(CPU_CLIENT, cmd), { timeoutMs: (seconds + 20) * 1000 })
  if (r.code !== 0)
    throw new Error(`sockperf to ${ip} exited ${r.code}: ${(r.stdout + r.stderr).slice(-400)}`)
  return parseSockperf(r.stdout + r.stderr)
}

function errorOf(stdout: string, stderr: string): string {
  try {
    return JSON.parse(stdout).error ?? stderr.trim()
  } catch {
    return (stderr || stdout).trim().slice(-400)
  }
}

// --- kernel counters that explain a figure ---------------------------------------------

/** Counters (nstat names) worth reading next to throughput, loss and latency figures. */
export const COUNTERS = [
  'TcpRetransSegs',
  'TcpExtTCPSACKReorder',
  'TcpExtTCPOFOQueue',
  'TcpExtTCPOFODrop',
  'TcpExtTCPRcvQDrop',
  'TcpExtTCPDSACKRecv',
  'TcpExtTCPLossProbes',
  'UdpInDatagrams',
  'UdpRcvbufErrors',
  'UdpInErrors',
  'IpInDiscards',
] as const

export type Counters = Record<string, number>

/**
 * nstat's text output ("#kernel", then "Name value rate" lines) as counters. Not `nstat -j`:
 * iproute2 6.1 prints the JSON values as 32-bit, so IpExtOutOctets wraps after 4.3 GB (seen:
 * 9,134,051,245 in /proc/net/netstat, 544,116,653 in the JSON) and a delta turns negative.
 */
export function parseNstat(text: string): Counters {
  const out: Counters = {}
  for (const line of text.split('\n')) {
    if (!line.trim() || line.startsWith('#')) continue
    const [name, value] = line.trim().split(/\s+/)
    const v = Number(value)
    if (!name || !Number.isFinite(v)) throw new Error(`nstat line not understood: ${line}`)
    out[name] = v
  }
  return out
}

/** Every absolute SNMP/netstat counter of a namespace (nstat -a: history ignored and not updated). */
export async function readAllCounters(ns: string): Promise<Counters> {
  const r = await runInNs(ns, ['nstat', '-a', '-s', '-z'], { timeoutMs: 10_000 })
  if (r.code !== 0) throw new Error(`nstat in ${ns} exited ${r.code}: ${r.stderr.trim()}`)
  return parseNstat(r.stdout)
}

/** The COUNTERS of a namespace, absolute. */
export async function readCounters(ns: string): Promise<Counters> {
  const all = await readAllCounters(ns)
  return Object.fromEntries(COUNTERS.map((k) => [k, all[k] ?? 0]))
}

export function counterDelta(a: Counters, b: Counters): Counters {
  return Object.fromEntries(
    Object.keys(b)
      .map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)])
      .filter(([, v]) => v !== 0),
  )
}
