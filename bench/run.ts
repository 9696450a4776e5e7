// weft benchmark suite, one command:   bun run bench/run.ts [--quick] [--out DIR]
//
// Builds its own topologies in network namespaces (2 hosts on an underlay bridge, client and
// same-host peer on host 1, remote peer on host 2; 3 hosts for the control plane), measures
// every mode in one run, alternating routed → kernel → bpf → docker each round, and writes
// <out>/<date>-<commit>.json, <out>/<date>-<commit>.svg and a generated REPORT.md.
// Default out: bench/results (JSON, SVG) and bench/REPORT.md. Ctrl-C tears everything down.
//
// Options:
//   --quick                 smoke mode: 1 round, 1 s warm-up + 1 s per figure, small control-plane counts
//   --out DIR               write JSON, SVG and REPORT.md into DIR
//   --modes a,b,c           subset of routed,kernel,bpf,docker (default all)
//   --underlays a,b         subset of wire,veth (default both, wire first)
//   --rounds N --seconds S  rounds per mode, seconds per throughput/latency figure
//   --attaches N --endpoints N --networks N     control-plane scale
//   --no-control-plane      data plane only
//   --only-control-plane    control plane only (no data-plane figures, paths or CLI start-up)
//   --no-cli-startup        skip the CLI start-up figures (bench/cli-startup.ts)
//   --no-paths              skip the way out (NAT), published port and names figures (lib/paths.ts)
//   --wait-quiet            poll /proc/loadavg (1-min < 0.7) for up to 10 min before starting
import { execSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parseArgs } from 'node:util'
import { leaks } from '../test/harness/index.ts'
import { WEFT } from '../test/agent/agents.ts'
import { CLI_RSS_TARGET_MB, CLI_WALL_TARGET_MS, measureCliStartup, worstOf } from './cli-startup.ts'
import { runControlPlane, type ControlPlaneResult } from './lib/control-plane.ts'
import { setupOrder, teardownOrder } from './lib/docker-setup.ts'
import { leakedPids, startedPids, stopAll } from './lib/procs.ts'
import {
  createPaths,
  pathNote,
  pathSupport,
  pathTests,
  type PathsSetup,
  type PathTest,
} from './lib/paths.ts'
import { createProgress } from './lib/progress.ts'
import { renderChart, renderReport } from './lib/report.ts'
import {
  createSetup,
  liveTopologies,
  MODES,
  UNDERLAYS,
  type Mode,
  type Setup,
  type Underlay,
} from './lib/setups.ts'
import { median } from './lib/stats.ts'
import {
  counterDelta,
  CPU_CLIENT,
  CPU_SERVER,
  latencyRun,
  readCounters,
  tcpRun,
  udpRun,
  UDP_SOCKET_BUFFER,
  type Counters,
} from './lib/tools.ts'
import type { BenchResult, Figure, FigureKey, FigureSet, PathsPhase, Phase } from './lib/types.ts'
import { evaluateTargets } from './lib/targets.ts'

const ROOT = join(import.meta.dir, '..')
const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    quick: { type: 'boolean', default: false },
    out: { type: 'string' },
    modes: { type: 'string' },
    underlays: { type: 'string' },
    rounds: { type: 'string' },
    seconds: { type: 'string' },
    attaches: { type: 'string' },
    endpoints: { type: 'string' },
    networks: { type: 'string' },
    'no-control-plane': { type: 'boolean', default: false },
    'only-control-plane': { type: 'boolean', default: false },
    'no-cli-startup': { type: 'boolean', default: false },
    'no-paths': { type: 'boolean', default: false },
    'wait-quiet': { type: 'boolean', default: false },
  },
})

const quick = args.quick!
const onlyControlPlane = args['only-control-plane']!
if (onlyControlPlane && args['no-control-plane'])
  throw new Error('--only-control-plane and --no-control-plane exclude each other: pick one')
if (onlyControlPlane) {
  args['no-cli-startup'] = true
  args['no-paths'] = true
}
const cfg = {
  rounds: Number(args.rounds ?? (quick ? 1 : 3)),
  seconds: Number(args.seconds ?? (quick ? 1 : 10)),
  attaches: Number(args.attaches ?? (quick ? 10 : 200)),
  cliRuns: quick ? 5 : 20,
  endpoints: Number(args.endpoints ?? (quick ? 60 : 1000)),
  networks: Number(args.networks ?? (quick ? 10 : 100)),
  kvSeconds: quick ? 2 : 10,
  idleSeconds: quick ? 1 : 10,
  convergeTimeoutMs: quick ? 60_000 : 180_000,
  cpuRate: '2G',
  paths: !args['no-paths'],
  nameIdleQueries: quick ? 200 : 2000,
}
const modes = (args.modes?.split(',') ?? MODES) as Mode[]
// --only-control-plane: no data-plane phase at all (the control plane builds its own hosts)
const underlays = (onlyControlPlane ? [] : (args.underlays?.split(',') ?? UNDERLAYS)) as Underlay[]
for (const m of modes)
  if (!MODES.includes(m)) throw new Error(`unknown mode ${m}: use ${MODES.join(',')}`)
for (const u of underlays)
  if (!UNDERLAYS.includes(u)) throw new Error(`unknown underlay ${u}: use ${UNDERLAYS.join(',')}`)
if (process.getuid?.() !== 0)
  throw new Error('the benchmark builds network namespaces: run it as root')
if (!existsSync(WEFT))
  throw new Error('dist/weft is missing: build it first (./node_modules/.bin/bun run compile.ts)')

// --- interruption: tear everything down, by PID and by topology ------------------------
let interrupted = false
const teardown = async (signal: string) => {
  if (interrupted) return
  interrupted = true
  process.stderr.write(
    `\n${signal}: stopping load generators and tearing down ${liveTopologies.size} topologies…\n`,
  )
  // The main flow parks at its next step (see halted()); a topology being built right now
  // registers itself when done, so sweep until none is left.
  for (let sweep = 0; sweep < 5; sweep++) {
    await stopAll()
    for (const t of teardownOrder(liveTopologies)) {
      liveTopologies.delete(t)
      await t.destroy().catch((e: Error) => process.stderr.write(`${e.message}\n`))
    }
    await Bun.sleep(300)
    if (!liveTopologies.size) break
  }
  process.exit(130)
}
/** After an interrupt, the main flow stops here instead of starting anything new. */
const halted = async () => {
  if (interrupted) await new Promise(() => {})
}
process.on('SIGINT', () => void teardown('SIGINT'))
process.on('SIGTERM', () => void teardown('SIGTERM'))

// --- the tests of one setup --------------------------------------------------------------
interface Test {
  id: string
  /** figures: one sample each; counters: per test name, per namespace */
  run(s: Setup): Promise<{
    figures: Partial<Record<FigureKey, number>>
    counters?: Record<string, Record<string, Counters>>
    label: string
  }>
}

/** Counters of the namespaces a test crosses, around the test. */
async function withCounters<T>(
  s: Setup,
  fn: () => Promise<T>,
): Promise<{ value: T; counters: Record<string, Counters> }> {
  const nss = {
    client: s.client,
    server: s.remote.ns,
    host1: s.topo.hosts[0]!.ns,
    host2: s.topo.hosts[1]!.ns,
  }
  const before = await Promise.all(Object.values(nss).map(readCounters))
  const value = await fn()
  const after = await Promise.all(Object.values(nss).map(readCounters))
  return {
    value,
    counters: Object.fromEntries(
      Object.keys(nss).map((k, i) => [k, counterDelta(before[i]!, after[i]!)]),
    ),
  }
}

const gb = (bytes: number) => bytes / 1e9
const T = cfg.seconds
const remoteTests: Test[] = [
  {
    id: 'tcp1Gbps',
    async run(s) {
      const { value: r, counters } = await withCounters(s, () =>
        tcpRun(s.client, s.remote.ns, s.remote.ip, { seconds: T }),
      )
      return {
        figures: {
          tcp1Gbps: r.gbps,
          tcp1Retransmits: r.retransmits,
          cpuSecPerGB: r.cpuSeconds / gb(r.bytes),
          softirqShare: r.softirqShare,
        },
        counters: { tcp1: counters },
        label: `TCP 1 stream ${r.gbps.toFixed(2)} Gbit/s, ${r.retransmits} retr, ${(r.cpuSeconds / gb(r.bytes)).toFixed(2)} CPU-s/GB`,
      }
    },
  },
  {
    id: 'tcp4Gbps',
    async run(s) {
      const r = await tcpRun(s.client, s.remote.ns, s.remote.ip, { seconds: T, streams: 4 })
      return {
        figures: { tcp4Gbps: r.gbps, tcp4Retransmits: r.retransmits },
        label: `TCP 4 streams ${r.gbps.toFixed(2)} Gbit/s`,
      }
    },
  },
  {
    id: 'udp64Kpps',
    async run(s) {
      const { value: r, counters } = await withCounters(s, () =>
        udpRun(s.client, s.remote.ns, s.remote.ip, T),
      )
      return {
        figures: {
          udp64Kpps: r.rxPps / 1000,
          udp64LossPercent: r.lostPercent,
          udp64AppKpps: r.appRxPps / 1000,
          udp64SenderCpuBusy: r.cpuBusy[CPU_CLIENT],
          udp64ReceiverCpuBusy: r.cpuBusy[CPU_SERVER],
        },
        counters: { udp64: counters },
        label: `UDP 64 B ${(r.rxPps / 1000).toFixed(0)} kpps delivered (iperf3 read ${(r.appRxPps / 1000).toFixed(0)}, ${r.rcvbufErrors} rcvbuf drops; CPU ${r.cpuBusy.map((b) => (b * 100).toFixed(0) + '%').join('/')} busy)`,
      }
    },
  },
  {
    id: 'latP99us',
    async run(s) {
      const r = await latencyRun(s.client, s.remote.ip, T)
      return {
        figures: { latP50us: r.p50us, latP99us: r.p99us },
        label: `RTT p50 ${r.p50us.toFixed(1)} µs p99 ${r.p99us.toFixed(1)} µs`,
      }
    },
  },
  {
    id: 'cpuSecPerGBAtRate',
    async run(s) {
      const r = await tcpRun(s.client, s.remote.ns, s.remote.ip, { seconds: T, rate: cfg.cpuRate })
      const v = r.cpuSeconds / gb(r.bytes)
      return {
        figures: { cpuSecPerGBAtRate: v },
        label: `TCP at ${cfg.cpuRate}bit/s: ${v.toFixed(2)} CPU-s/GB`,
      }
    },
  },
]
const localTests: Test[] = [
  {
    id: 'tcp1Gbps',
    async run(s) {
      const r = await tcpRun(s.client, s.local.ns, s.local.ip, { seconds: T })
      return {
        figures: {
          tcp1Gbps: r.gbps,
          tcp1Retransmits: r.retransmits,
          cpuSecPerGB: r.cpuSeconds / gb(r.bytes),
        },
        label: `same host TCP 1 stream ${r.gbps.toFixed(2)} Gbit/s`,
      }
    },
  },
  {
    id: 'udp64Kpps',
    async run(s) {
      const r = await udpRun(s.client, s.local.ns, s.local.ip, T)
      return {
        figures: {
          udp64Kpps: r.rxPps / 1000,
          udp64LossPercent: r.lostPercent,
          udp64AppKpps: r.appRxPps / 1000,
        },
        label: `same host UDP 64 B ${(r.rxPps / 1000).toFixed(0)} kpps delivered`,
      }
    },
  },
  {
    id: 'latP99us',
    async run(s) {
      const r = await latencyRun(s.client, s.local.ip, T)
      return {
        figures: { latP50us: r.p50us, latP99us: r.p99us },
        label: `same host RTT p50 ${r.p50us.toFixed(1)} µs p99 ${r.p99us.toFixed(1)} µs`,
      }
    },
  },
]

// Same-host traffic never touches the underlay: measured once, in the first underlay phase.
const sameHostIn: Underlay = underlays[0]!
const cpModes = modes.filter((m): m is 'kernel' | 'bpf' => m === 'kernel' || m === 'bpf')

// The way out and names (lib/paths.ts): per mode, the paths it has; names in the first phase only.
const allPathTests = pathTests({ seconds: T, idleQueries: cfg.nameIdleQueries })
const pathTestsOf = (mode: Mode, u: Underlay): PathTest[] =>
  cfg.paths
    ? allPathTests.filter(
        (t) => pathSupport(mode)[t.kind] === true && (t.kind !== 'names' || u === sameHostIn),
      )
    : []
const pathSteps = (u: Underlay) =>
  modes.reduce(
    (n, m) => n + (pathTestsOf(m, u).length ? 1 + cfg.rounds * pathTestsOf(m, u).length : 0),
    0,
  )

const progress = createProgress(
  underlays.reduce(
    (n, u) =>
      n +
      cfg.rounds *
        modes.length *
        (remoteTests.length + (u === sameHostIn ? localTests.length : 0)) +
      pathSteps(u),
    0,
  ) +
    underlays.length * modes.length +
    (args['no-control-plane'] ? 0 : cpModes.length) +
    (args['no-cli-startup'] ? 0 : 1),
)

// --- run ------------------------------------------------------------------------------------
const started = new Date()
const loadBefore = await waitQuiet(args['wait-quiet']!)
const commit = git('rev-parse --short HEAD')
const result: BenchResult = {
  meta: {
    date: started.toISOString(),
    commit,
    dirty: git('status --porcelain -- src bpf bench') !== '',
    command: `bun run bench/run.ts ${Bun.argv.slice(2).join(' ')}`.trim(),
    quick,
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    cpu:
      (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown',
    cpus: navigator.hardwareConcurrency,
    weftVersion: tryRun(`${WEFT} version`),
    dockerVersion: modes.includes('docker') ? tryRun('/usr/sbin/dockerd --version') : undefined,
    loadBefore,
    loadAfter: '',
    seconds: 0,
    config: { ...cfg, modes, underlays, cpuClient: CPU_CLIENT, cpuServer: CPU_SERVER },
    iperfFlags: `-t ${T} -O 1 -J (TCP: -P 1 | -P 4; at-rate: -b ${cfg.cpuRate}; UDP: -u -l 64 -b 0 -w ${UDP_SOCKET_BUFFER}, counted as datagrams the receiving namespace's UDP took in), client taskset -c ${CPU_CLIENT}, server -c ${CPU_SERVER}`,
    sockperfFlags: `sockperf pp -t ${T} --full-rtt (UDP 14-byte ping-pong), same pinning`,
    prefixes: [],
    pids: [],
    leaks: [],
  },
  modes: {},
  phases: [],
  controlPlane: {},
  targets: [],
}

for (const underlay of underlays) {
  const phase: Phase = {
    underlay,
    remote: {},
    sameHost: underlay === sameHostIn ? {} : undefined,
    counters: {},
    errors: {},
    paths: cfg.paths
      ? { nat: {}, published: {}, names: underlay === sameHostIn ? {} : undefined, notes: {} }
      : undefined,
  }
  result.phases.push(phase)
  const setups = new Map<Mode, Setup>()
  for (const mode of setupOrder(modes)) {
    await halted()
    progress.step(`${underlay} · ${mode} · setup`)
    try {
      const s = await createSetup(mode, underlay)
      setups.set(mode, s)
      result.meta.prefixes.push(s.topo.prefix)
      result.modes[mode] ??= { available: true }
      progress.done('ready')
    } catch (e) {
      const msg = (e as Error).message.split('\n').slice(0, 3).join(' ')
      result.modes[mode] = { available: false, error: msg }
      phase.errors[mode] = [`setup: ${msg}`]
      progress.done(`UNAVAILABLE: ${msg.slice(0, 160)}`)
    }
  }
  const paths = new Map<Mode, PathsSetup>()
  for (const mode of modes) {
    const note = pathNote(mode)
    if (phase.paths && note) phase.paths.notes[mode] = note
    const s = setups.get(mode)
    if (!pathTestsOf(mode, underlay).length) continue
    await halted()
    progress.step(`${underlay} · ${mode} · way out and names setup`)
    if (!s) {
      progress.done('skipped (mode unavailable)')
      continue
    }
    try {
      paths.set(mode, await createPaths(s))
      progress.done('ready')
    } catch (e) {
      const msg = (e as Error).message.split('\n').slice(0, 3).join(' ')
      ;(phase.errors[mode] ??= []).push(`way out and names setup: ${msg}`)
      progress.done(`FAILED: ${msg.slice(0, 300)}`)
    }
  }
  for (let round = 1; round <= cfg.rounds; round++) {
    for (const mode of modes) {
      const s = setups.get(mode)
      const groups: [Record<string, FigureSet>, Test[]][] = [[phase.remote, remoteTests]]
      if (phase.sameHost) groups.push([phase.sameHost, localTests])
      for (const [into, tests] of groups) {
        for (const t of tests) {
          await halted()
          const where = into === phase.remote ? 'remote' : 'same-host'
          progress.step(`${underlay} · ${mode} · round ${round}/${cfg.rounds} · ${where} ${t.id}`)
          if (!s) {
            progress.done('skipped (mode unavailable)')
            continue
          }
          try {
            const r = await t.run(s)
            addSamples((into[mode] ??= {}), r.figures, round)
            if (r.counters) {
              const c = (phase.counters[mode] ??= {})
              for (const [k, v] of Object.entries(r.counters)) (c[k] ??= []).push(v)
            }
            progress.done(r.label)
          } catch (e) {
            const msg = (e as Error).message.slice(0, 300)
            ;(phase.errors[mode] ??= []).push(`round ${round} ${where} ${t.id}: ${msg}`)
            progress.done(`FAILED: ${msg}`)
          }
        }
      }
      if (phase.paths) await runPathTests(phase, mode, round, s, paths.get(mode))
    }
  }
  const byTopology = new Map([...setups.values()].map((s) => [s.topo, s]))
  for (const t of teardownOrder(byTopology.keys())) await byTopology.get(t)!.destroy()
}

if (!args['no-control-plane']) {
  let kvDone = false
  for (const datapath of cpModes) {
    await halted()
    progress.step(`control plane · ${datapath}`)
    if (result.modes[datapath]?.available === false) {
      progress.done('skipped (mode unavailable)')
      continue
    }
    try {
      const cp: ControlPlaneResult = await runControlPlane({
        datapath,
        attaches: cfg.attaches,
        endpoints: cfg.endpoints,
        networks: cfg.networks,
        kvSeconds: cfg.kvSeconds,
        kv: !kvDone,
        idleSeconds: cfg.idleSeconds,
        convergeTimeoutMs: cfg.convergeTimeoutMs,
        progress: (what, figure) =>
          progress.note(`control plane · ${datapath} · ${what}${figure ? ` → ${figure}` : ''}`),
      })
      kvDone ||= cp.kv !== undefined
      result.controlPlane[datapath] = cp
      progress.done(
        `attach p50 ${cp.attach.p50ms.toFixed(1)} ms p99 ${cp.attach.p99ms.toFixed(1)} ms; ${cp.converge.endpoints} endpoints in ${cp.converge.seconds?.toFixed(2) ?? '—'} s; RSS ${cp.maxRssMb.toFixed(0)} MB`,
      )
    } catch (e) {
      const msg = (e as Error).message.split('\n').slice(0, 3).join(' ')
      result.controlPlane[datapath] = { error: msg }
      progress.done(`FAILED: ${msg.slice(0, 300)}`)
    }
  }
}

if (!args['no-cli-startup']) {
  await halted()
  progress.step('CLI start-up')
  try {
    const cli = await measureCliStartup({ weft: WEFT, runs: cfg.cliRuns })
    result.cliStartup = cli
    const w = worstOf(cli)
    progress.done(
      `slowest ${w.wallCommand} ${w.wallMs.toFixed(1)} ms (< ${CLI_WALL_TARGET_MS}), largest ${w.peakCommand} ${w.peakMb.toFixed(1)} MB (< ${CLI_RSS_TARGET_MB})`,
    )
  } catch (e) {
    const msg = (e as Error).message.split('\n').slice(0, 3).join(' ')
    result.cliStartup = { error: msg }
    progress.done(`FAILED: ${msg.slice(0, 300)}`)
  }
}

// --- leak check, results ---------------------------------------------------------------------
await stopAll()
for (const p of result.meta.prefixes) result.meta.leaks.push(...(await leaks(p)))
result.meta.leaks.push(...leakedPids().map((p) => `pid ${p.pid} (${p.cmd}) still running`))
result.meta.pids = startedPids
result.meta.loadAfter = readFileSync('/proc/loadavg', 'utf8').trim()
result.meta.seconds = (Date.now() - started.getTime()) / 1000
result.targets = evaluateTargets(result)

const outDir = args.out ?? join(ROOT, 'bench', 'results')
mkdirSync(outDir, { recursive: true })
const base = `${started.toISOString().slice(0, 10)}-${commit}`
const jsonPath = join(outDir, `${base}.json`)
const svgPath = join(outDir, `${base}.svg`)
const reportPath = args.out ? join(outDir, 'REPORT.md') : join(ROOT, 'bench', 'REPORT.md')
writeFileSync(jsonPath, JSON.stringify(result, null, 2) + '\n')
writeFileSync(svgPath, renderChart(result))
const rel = (p: string) => relative(join(reportPath, '..'), p)
writeFileSync(reportPath, renderReport(result, { json: rel(jsonPath), svg: rel(svgPath) }))
progress.finish(`wrote ${jsonPath}\n      ${svgPath}\n      ${reportPath}`)
if (result.meta.leaks.length) {
  process.stderr.write(`LEAKED:\n  ${result.meta.leaks.join('\n  ')}\n`)
  process.exit(1)
}
process.exit(0)

// --- helpers ---------------------------------------------------------------------------------

/**
 * Add one round's figures to a mode's set; every figure keeps its samples, the round of each
 * (ratios pair rounds, stats.pairRounds) and their median.
 */
function addSamples(
  set: Record<string, Figure>,
  figures: Record<string, number | undefined>,
  round: number,
) {
  for (const [k, v] of Object.entries(figures)) {
    if (v === undefined) continue
    const f: Figure = (set[k] ??= { samples: [], median: NaN, rounds: [] })
    f.samples.push(v)
    ;(f.rounds ??= []).push(round)
    f.median = median(f.samples)
  }
}

/** One round of the way out and names tests of a mode (lib/paths.ts), after its data-plane tests. */
async function runPathTests(
  phase: Phase,
  mode: Mode,
  round: number,
  s: Setup | undefined,
  p: PathsSetup | undefined,
) {
  const into: PathsPhase = phase.paths!
  for (const t of pathTestsOf(mode, phase.underlay)) {
    await halted()
    const what = `${t.kind} ${t.id}`
    progress.step(`${phase.underlay} · ${mode} · round ${round}/${cfg.rounds} · ${what}`)
    if (!s || !p) {
      progress.done('skipped (mode or its way out unavailable)')
      continue
    }
    try {
      const r = await t.run(p, s)
      const sets = into[t.kind] ?? (into[t.kind] = {})
      addSamples((sets[mode] ??= {}) as Record<string, Figure>, r.figures, round)
      progress.done(r.label)
    } catch (e) {
      const msg = (e as Error).message.slice(0, 300)
      ;(phase.errors[mode] ??= []).push(`round ${round} ${what}: ${msg}`)
      progress.done(`FAILED: ${msg}`)
    }
  }
}

function git(cmd: string): string {
  return tryRun(`git -C ${ROOT} ${cmd}`)
}

function tryRun(cmd: string): string {
  try {
    return execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return ''
  }
}

/** With --wait-quiet, poll the 1-min load average until < 0.7 (10 min at most); return it either way. */
async function waitQuiet(wait: boolean): Promise<string> {
  const load = () => readFileSync('/proc/loadavg', 'utf8').trim()
  if (!wait) return load()
  const deadline = Date.now() + 10 * 60_000
  while (Number(load().split(' ')[0]) >= 0.7 && Date.now() < deadline) {
    process.stderr.write(`waiting for a quiet machine: loadavg ${load()}\n`)
    await Bun.sleep(15_000)
  }
  return load()
}
