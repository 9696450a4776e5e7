// Where an agent's resident memory goes: 3 real agents in namespaces (host 1 serves the
// embedded store), measured idle and again after E endpoints over M networks converged (the
// control-plane bench's "agent footprint" load, same assignment and same convergence check).
//
//   bun run bench/rss.ts [--endpoints 1000] [--networks 100] [--datapath bpf|kernel] [--settle 20]
//                        [--loaded yes|no] [--json FILE]
//
// --loaded no skips the measurement right after converging: its scrape runs a full collection
// in every agent (and the store thread), so the figure at rest is then what the agents reach
// by themselves after a burst, as in production where nobody collects for them.
//
// Per agent it prints VmRSS as found (the bench's figure), and after a full collection with its split: the JS heap after a full collection (the agent's
// /metrics with WEFT_METRICS_GC=1; on the store host also the store thread's own heap), the rest of the anonymous memory (native: libSQL, Bun,
// allocator), file-backed pages (the binary, libraries), BPF maps, and the top mappings.
// WEFT_STORE_CENSUS=DIR (inherited by the agents): the store thread appends, at each scrape, its
// whole heap census (every object type, its heap as found and after the collection) and what
// the store holds (keys, key and value bytes, tombstones, the list cache, its entry JSON) to
// DIR/store-census-PID.jsonl.
// CPU at rest: each agent's utime + stime (/proc/PID/stat) over the rest window after its first
// third (at most 30 s: the collections and the first drift sweeps after the burst), as % of one
// CPU, with the main thread's own share.
// RSS at rest, sampled: each agent's VmRSS, RssAnon and RssFile every second through the whole
// rest (/proc/PID/status); max and median over the CPU window (the rest after its first third),
// so a figure "as found" can be read against the floor between drift passes and the spikes.
// WEFT_AGENT_CENSUS=DIR (inherited too): after the last measurement each agent is sent SIGUSR2
// and writes its main thread's heap snapshot to DIR (src/agent/heap-census.ts); read them with
// bench/heap-census.ts.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Database } from 'bun:sqlite'
import { createTopology, type Topology } from '../test/harness/index.ts'
import { startAgents, type RunningAgent } from '../test/agent/agents.ts'
import { startDriver, type DriverHandle } from '../test/datapath/driver-client.ts'
import { convergence } from './lib/control-plane.ts'
import { startedPids } from './lib/procs.ts'
import { destroyTopology, liveTopologies } from './lib/setups.ts'

interface Options {
  endpoints: number
  networks: number
  datapath: 'bpf' | 'kernel'
  json?: string
  /** seconds at rest after converging before the last measurement (the bench's idle window) */
  settle: number
  /** measure right after converging too (its scrape collects, see the header) */
  loaded: boolean
}

function parseArgs(argv: string[]): Options {
  const o: Options = { endpoints: 1000, networks: 100, datapath: 'bpf', settle: 20, loaded: true }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = argv[++i]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === '--endpoints') o.endpoints = positive(flag, value, 0)
    else if (flag === '--networks') o.networks = positive(flag, value)
    else if (flag === '--datapath' && (value === 'bpf' || value === 'kernel')) o.datapath = value
    else if (flag === '--json') o.json = value
    else if (flag === '--settle') o.settle = positive(flag, value, 0)
    else if (flag === '--loaded' && (value === 'yes' || value === 'no')) o.loaded = value === 'yes'
    else throw new Error(`unknown flag or value: ${flag} ${value} (see the header of bench/rss.ts)`)
  }
  return o
}

function positive(flag: string, v: string, min = 1): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < min)
    throw new Error(`${flag}: want an integer >= ${min}, got ${v}`)
  return n
}

/** One agent's memory, MB. */
export interface MemorySplit {
  node: string
  /** CPU seconds the agent used since it started (user + system) */
  cpuSeconds: number
  /** established TCP connections in the agent's namespace (long polls to and from the store) */
  tcpEstablished: number
  mirror: { rows: number; mb: number }
  /** the most common live JS object types, "type count" */
  objects: string[]
  /** VmRSS before the measurement's collection (the control-plane bench's figure) */
  rssAsFound: number
  /** after a full collection */
  rss: number
  jsHeapLive: number
  jsHeapCapacity: number
  jsExtra: number
  /** the embedded store thread's JS heap (its own VM), on the host that serves it; else 0 */
  storeHeapLive: number
  storeHeapCapacity: number
  /** blocking queries parked on the store (store host only) */
  storeParked: number
  /** anonymous resident pages (heap, mmap'd arenas, JS heap among them) */
  anon: number
  /** anonymous minus the JS heaps' capacity (agent's and store thread's): native allocations (libSQL, Bun, mimalloc) */
  nativeAnon: number
  fileBacked: number
  /** anonymous memory in transparent huge pages (a 2 MB page is resident whole) */
  anonHuge: number
  bpfMaps: number
  /** the largest resident mappings, by what backs them */
  top: { what: string; mb: number }[]
  /** anonymous mappings of >= 1 MB resident, "resident/size" MB */
  anonRegions: string[]
}

const MB = 2 ** 20

/** Rows and key+value bytes of the agent's mirror table (what MirrorDb also holds in memory). */
function mirrorSize(agent: RunningAgent): { rows: number; mb: number } {
  const db = new Database(join(agent.dataDir, agent.node, 'state.db'), { readonly: true })
  try {
    const r = db
      .query('SELECT count(*) AS n, sum(length(key) + length(value)) AS b FROM mirror')
      .get() as { n: number; b: number | null }
    return { rows: r.n, mb: round((r.b ?? 0) / MB) }
  } finally {
    db.close()
  }
}

function anonHugeMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').match(/^AnonHugePages:\s+(\d+) kB/m)
  return m ? Number(m[1]) / 1024 : 0
}

function tcpEstablished(pid: number): number {
  const lines = readFileSync(`/proc/${pid}/net/tcp`, 'utf8').split('\n').slice(1)
  return lines.filter((l) => l.trim().split(/\s+/)[3] === '01').length
}

/** utime + stime of a process, or of one thread (/proc/PID/task/TID/stat), seconds (clock ticks of 1/100 s). */
function cpuSeconds(pid: number, statPath = `/proc/${pid}/stat`): number {
  const stat = readFileSync(statPath, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** One agent's CPU over a window at rest, % of one CPU. */
export interface RestCpu {
  node: string
  percent: number
  /** the main (JS) thread alone */
  mainPercent: number
}

/** Each agent's CPU over the next `ms` (a measurement window, not synchronisation). */
async function restCpu(agents: RunningAgent[], ms: number): Promise<RestCpu[]> {
  const read = () =>
    agents.map(({ proc: { pid } }) => ({
      all: cpuSeconds(pid),
      main: cpuSeconds(pid, `/proc/${pid}/task/${pid}/stat`),
      at: performance.now(),
    }))
  const before = read()
  await Bun.sleep(ms)
  const after = read()
  return agents.map((a, i) => {
    const b = before[i]!
    const e = after[i]!
    const pct = (cpu: number) => round((cpu * 100_000) / (e.at - b.at))
    return { node: a.node, percent: pct(e.all - b.all), mainPercent: pct(e.main - b.main) }
  })
}

/** One agent's resident memory at one instant, MB (/proc/PID/status). */
interface RssSample {
  /** ms since the rest began */
  t: number
  rss: number
  anon: number
  file: number
}

function rssSample(pid: number, t: number): RssSample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (field: string) =>
    Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN)
  return {
    t,
    rss: round(kb('VmRSS') / 1024),
    anon: round(kb('RssAnon') / 1024),
    file: round(kb('RssFile') / 1024),
  }
}

/** Samples every second until stopped (a measurement, not synchronisation). */
function sampleRss(agents: RunningAgent[]): { stop: () => RssSample[][] } {
  const t0 = performance.now()
  const out: RssSample[][] = agents.map(() => [])
  const take = () =>
    agents.forEach((a, i) => {
      try {
        out[i]!.push(rssSample(a.proc.pid, Math.round(performance.now() - t0)))
      } catch {} // an agent that exited: its samples stop
    })
  take()
  const timer = setInterval(take, 1000)
  return { stop: () => (clearInterval(timer), out) }
}

/** Max and median of the samples from `fromMs` on, per figure. */
export interface RssAtRest {
  node: string
  samples: number
  rss: { max: number; median: number; min: number }
  anon: { max: number; median: number; min: number }
  file: { median: number }
}

function rssAtRest(node: string, samples: RssSample[], fromMs: number): RssAtRest {
  const s = samples.filter((x) => x.t >= fromMs)
  const sorted = (k: 'rss' | 'anon' | 'file') => s.map((x) => x[k]).sort((a, b) => a - b)
  const med = (v: number[]) => v[Math.floor(v.length / 2)] ?? NaN
  const rss = sorted('rss')
  const anon = sorted('anon')
  return {
    node,
    samples: s.length,
    rss: { max: rss.at(-1) ?? NaN, median: med(rss), min: rss[0] ?? NaN },
    anon: { max: anon.at(-1) ?? NaN, median: med(anon), min: anon[0] ?? NaN },
    file: { median: med(sorted('file')) },
  }
}

function vmRssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)
  if (!m) throw new Error(`no VmRSS for PID ${pid}: is the agent still running?`)
  return Number(m[1]) / 1024
}

/** Resident kB of every mapping in /proc/PID/smaps, by what backs it. */
function smaps(pid: number): Map<string, { rssKb: number; anonKb: number }> {
  const out = new Map<string, { rssKb: number; anonKb: number }>()
  let cur = { rssKb: 0, anonKb: 0 }
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = line.match(/^[0-9a-f]+-[0-9a-f]+ (\S+) \S+ \S+ \S+\s*(.*)$/)
    if (head) {
      const path = head[2]!.trim()
      // a file by segment (text, read-only data, data): which part of the binary is resident
      const what = path.startsWith('/') ? `${path.split('/').pop()} ${head[1]}` : path || '[anon]'
      cur = out.get(what) ?? { rssKb: 0, anonKb: 0 }
      out.set(what, cur)
      continue
    }
    const m = line.match(/^(Rss|Anonymous):\s+(\d+) kB/)
    if (m) cur[m[1] === 'Rss' ? 'rssKb' : 'anonKb'] += Number(m[2])
  }
  return out
}

/** Anonymous mappings with at least 1 MB resident: size and resident MB (who made them shows in the sizes). */
function anonRegions(pid: number): string[] {
  const out: { size: number; rss: number }[] = []
  let cur: { size: number; rss: number } | undefined
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = line.match(/^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/)
    if (head) {
      cur = head[3]!.trim()
        ? undefined
        : { size: (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) / MB, rss: 0 }
      if (cur) out.push(cur)
      continue
    }
    const m = line.match(/^Rss:\s+(\d+) kB/)
    if (m && cur) cur.rss += Number(m[1]) / 1024
  }
  return out
    .filter((r) => r.rss >= 1)
    .sort((a, b) => b.rss - a.rss)
    .map((r) => `${round(r.rss)}/${round(r.size)}`)
}

async function metric(agent: RunningAgent, text: string, name: string): Promise<number> {
  const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'))
  // a build before the memory gauges (WEFT_AGENT_CMD=an older binary): RSS and smaps only
  return m ? Number(m[1]) : NaN
}

async function split(agent: RunningAgent): Promise<MemorySplit> {
  // as the control-plane bench reads it: before the scrape's collection
  const rssAsFound = vmRssMb(agent.proc.pid)
  const r = await agent.api('GET', '/metrics')
  if (r.status !== 200) throw new Error(`${agent.node} /metrics: ${r.status}`)
  const text = String(r.body)
  const jsHeapLive = (await metric(agent, text, 'weft_js_heap_bytes')) / MB
  const jsHeapCapacity = (await metric(agent, text, 'weft_js_heap_capacity_bytes')) / MB
  const jsExtra = (await metric(agent, text, 'weft_js_extra_memory_bytes')) / MB
  const orZero = (x: number) => (Number.isNaN(x) ? 0 : x)
  const storeHeapLive = orZero(await metric(agent, text, 'weft_store_thread_js_heap_bytes')) / MB
  const storeHeapCapacity =
    orZero(await metric(agent, text, 'weft_store_thread_js_heap_capacity_bytes')) / MB
  const storeParked = orZero(await metric(agent, text, 'weft_store_parked_queries'))
  const maps = smaps(agent.proc.pid)
  let rssKb = 0
  let anonKb = 0
  let fileKb = 0
  let bpfKb = 0
  for (const [what, m] of maps) {
    rssKb += m.rssKb
    anonKb += m.anonKb
    if (!what.startsWith('[') && !what.includes(':')) fileKb += m.rssKb - m.anonKb
    if (what.includes('bpf-map')) bpfKb += m.rssKb
  }
  const top = [...maps]
    .sort((a, b) => b[1].rssKb - a[1].rssKb)
    .slice(0, 8)
    .map(([what, m]) => ({ what, mb: round(m.rssKb / 1024) }))
  const objects = [...text.matchAll(/^weft_js_objects\{type="([^"]+)"\} (\d+)$/gm)].map(
    (m) => `${m[1]} ${m[2]}`,
  )
  return {
    node: agent.node,
    cpuSeconds: round(cpuSeconds(agent.proc.pid)),
    tcpEstablished: tcpEstablished(agent.proc.pid),
    mirror: mirrorSize(agent),
    objects,
    rssAsFound: round(rssAsFound),
    rss: round(rssKb / 1024),
    jsHeapLive: round(jsHeapLive),
    jsHeapCapacity: round(jsHeapCapacity),
    jsExtra: round(jsExtra),
    storeHeapLive: round(storeHeapLive),
    storeHeapCapacity: round(storeHeapCapacity),
    storeParked,
    anon: round(anonKb / 1024),
    nativeAnon: round(anonKb / 1024 - jsHeapCapacity - storeHeapCapacity),
    fileBacked: round(fileKb / 1024),
    anonHuge: round(anonHugeMb(agent.proc.pid)),
    bpfMaps: round(bpfKb / 1024),
    top,
    anonRegions: anonRegions(agent.proc.pid),
  }
}

/** Each agent's heap snapshot, one at a time (a snapshot costs ~100 MB for a moment). */
async function heapCensus(agents: RunningAgent[], dir: string): Promise<void> {
  for (const a of agents) {
    const file = join(dir, `agent-heap-${a.node}-${a.proc.pid}.heapsnapshot`)
    const before = existsSync(file) ? statSync(file).mtimeMs : 0
    process.kill(a.proc.pid, 'SIGUSR2')
    const deadline = Date.now() + 60_000
    while (!existsSync(file) || statSync(file).mtimeMs === before) {
      if (Date.now() > deadline) throw new Error(`${a.node}: no heap census in ${file} after 60 s`)
      await Bun.sleep(200) // polling for the file (with the deadline above)
    }
    console.log(`heap census: ${file}`)
  }
}

const round = (x: number) => Math.round(x * 10) / 10

function print(label: string, rows: MemorySplit[]): void {
  console.log(`\n${label}`)
  console.log(
    'node'.padEnd(14) +
      [
        'RSS',
        'after GC',
        'JS live',
        'JS cap',
        'JS extra',
        'store JS',
        'st. cap',
        'anon',
        'native',
        'file',
        'bpf maps',
      ]
        .map((h) => h.padStart(9))
        .join(''),
  )
  for (const s of rows) {
    const cells = [
      s.rssAsFound,
      s.rss,
      s.jsHeapLive,
      s.jsHeapCapacity,
      s.jsExtra,
      s.storeHeapLive,
      s.storeHeapCapacity,
      s.anon,
      s.nativeAnon,
      s.fileBacked,
      s.bpfMaps,
    ]
    console.log(s.node.padEnd(14) + cells.map((c) => c.toFixed(1).padStart(9)).join(''))
    console.log('  top: ' + s.top.map((t) => `${t.what} ${t.mb}`).join(' · '))
    console.log(
      `  CPU ${s.cpuSeconds} s since start; mirror ${s.mirror.rows} rows, ${s.mirror.mb} MB; TCP established: ${s.tcpEstablished}${s.storeParked ? `; parked on the store: ${s.storeParked}` : ''}; JS objects: ${s.objects.join(' · ')}`,
    )
    console.log(
      `  anon regions (resident/size MB): ${s.anonRegions.join(' ')}; in huge pages: ${s.anonHuge} MB`,
    )
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2))
  // the agents inherit this: each /metrics scrape collects first, so the heap figure is live data
  process.env.WEFT_METRICS_GC = '1'
  const topo: Topology = await createTopology({ hosts: 3 })
  liveTopologies.add(topo)
  const drivers: DriverHandle[] = []
  topo.track(async () => {
    for (const d of drivers) await d.stop(3000)
  })
  const stop = () => void destroyTopology(topo).finally(() => process.exit(130))
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
  try {
    const agents = await startAgents(topo, { datapath: o.datapath, ttl: '10s' })
    for (const h of topo.hosts) {
      const d = startDriver(h.ns, o.datapath, h.node, h.underlay.ip)
      startedPids.push({ pid: d.pid, cmd: 'nsenter bun run driver.ts' })
      drivers.push(d)
    }
    const idle = []
    for (const a of agents) idle.push(await split(a))
    print('idle (no endpoints)', idle)
    if (o.endpoints === 0) {
      if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, idle }, null, 2))
      return
    }
    const converge = await convergence(topo, agents, drivers, {
      datapath: o.datapath,
      attaches: 0,
      endpoints: o.endpoints,
      networks: o.networks,
      kvSeconds: 0,
      kv: false,
      idleSeconds: 0,
      convergeTimeoutMs: 180_000,
      progress: (what, figure) => console.error(`  ${what}${figure ? `: ${figure}` : ''}`),
    })
    const loaded = []
    if (o.loaded) {
      for (const a of agents) loaded.push(await split(a))
      print(`${o.endpoints} endpoints over ${o.networks} networks`, loaded)
    }
    // measurement windows (as the bench's idle one), not synchronisation
    const skipMs = Math.min(30_000, (o.settle * 1000) / 3)
    const sampler = sampleRss(agents)
    await Bun.sleep(skipMs)
    const rest = await restCpu(agents, o.settle * 1000 - skipMs)
    const rssSamples = sampler.stop()
    const rssRest = agents.map((a, i) => rssAtRest(a.node, rssSamples[i]!, skipMs))
    const settled = []
    for (const a of agents) settled.push(await split(a))
    print(`after ${o.settle} s at rest`, settled)
    console.log(
      `\nCPU at rest (utime + stime over the last ${round(o.settle - skipMs / 1000)} s of the rest, % of one CPU; main thread): ` +
        rest.map((r) => `${r.node} ${r.percent} % (${r.mainPercent} %)`).join(' · '),
    )
    console.log(
      `RSS at rest, sampled every second over the same window (MB, max / median / min; anonymous max / median; file median): ` +
        rssRest
          .map(
            (r) =>
              `${r.node} ${r.rss.max} / ${r.rss.median} / ${r.rss.min} (anon ${r.anon.max} / ${r.anon.median}; file ${r.file.median})`,
          )
          .join(' · '),
    )
    if (process.env.WEFT_AGENT_CENSUS) await heapCensus(agents, process.env.WEFT_AGENT_CENSUS)
    console.log(
      `\nconverge: ${converge.seconds === null ? 'NOT within the timeout' : `${converge.seconds.toFixed(2)} s`}` +
        ` (API ${converge.apiSeconds.toFixed(2)} s, ${converge.failures} failed calls)${converge.note ? ` ${converge.note}` : ''}`,
    )
    if (o.json)
      writeFileSync(
        o.json,
        JSON.stringify(
          { options: o, idle, loaded, settled, rest, rssRest, rssSamples, converge },
          null,
          2,
        ),
      )
    if (converge.seconds === null || converge.failures) process.exitCode = 1
  } finally {
    await destroyTopology(topo)
  }
}

await main()
