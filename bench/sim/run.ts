// The control-plane simulator (issue 17): one real store (weft's embedded KV server, its own
// process) and hundreds of simulated hosts (worker processes, each running many hosts with the
// real mirror, view, scoped follower or whole-tree watch, reconciler and desired state over a
// recording datapath). Per scenario and design it measures: initial sync, bytes the store sends
// per change, change -> every affected host programmed it (p50/p99), convergence after a burst
// of connects, store CPU and RSS, host CPU per host per change.
//
//   bun bench/sim/run.ts [--scenarios NAME,..] [--designs scoped,tree] [--changes N] [--burst N]
//                        [--workers N] [--out DIR] [--tree-max-keys N]
//
// --out DIR: the results and the report go to DIR (default: bench/results and bench/SIM-REPORT.md).
//
// Everything runs in a private network namespace (unshare --net, loopback only), so no packet
// leaves it; it vanishes with the processes. Needs root (unshare). Writes
// bench/results/sim-<date>.json and .svg, and bench/SIM-REPORT.md (see report.ts).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ROOT, keys } from '../../src/cluster/index.ts'
import { ConsulStore } from '../../src/store/index.ts'
import { buildLayout, loadLayout, nodeName, type Scenario, type SimLayout } from './layout.ts'
import { CURVE, PROFILE, SCENARIOS, SMOKE } from './scenarios.ts'
import type { Design } from './host.ts'
import type { Request } from './worker.ts'
import { writeSimReport, type SimResult } from './report.ts'

const { values: args } = parseArgs({
  options: {
    scenarios: { type: 'string' },
    designs: { type: 'string', default: 'scoped,tree' },
    changes: { type: 'string', default: '40' },
    'tree-changes': { type: 'string', default: '5' },
    burst: { type: 'string', default: '1000' },
    /** The whole-tree design's burst (each of its changes sends every host the tree). */
    'tree-burst': { type: 'string', default: '200' },
    workers: { type: 'string', default: '8' },
    out: { type: 'string' },
    /** Memory all simulator processes may take before a run is stopped (the machine is shared). */
    'max-rss-mb': { type: 'string', default: '6144' },
    /**
     * Results of an earlier run (its JSON) to keep beside this run's: rows measured at another
     * commit stay (labelled with it); one of the same scenario and design at this commit is replaced.
     */
    merge: { type: 'string' },
    /** The whole-tree design runs only where the tree has at most this many keys x hosts (else computed). */
    'tree-max-keys': { type: 'string', default: '3000000' },
  },
  strict: true,
})

// --- a private network namespace: re-run inside one ---
if (process.env.SIM_NETNS !== '1') {
  if (process.getuid?.() !== 0)
    throw new Error('bench/sim needs root: it runs in its own network namespace (unshare --net)')
  const p = Bun.spawn(
    [
      'unshare',
      '--net',
      '--',
      'sh',
      '-c',
      'ip link set lo up && exec "$@"',
      'sh',
      process.execPath,
      import.meta.path,
      ...process.argv.slice(2),
    ],
    { env: { ...process.env, SIM_NETNS: '1' }, stdio: ['inherit', 'inherit', 'inherit'] },
  )
  process.exit(await p.exited)
}

const log = (s: string) => console.error(`[sim ${new Date().toISOString().slice(11, 19)}] ${s}`)
const now = () => performance.timeOrigin + performance.now()
const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return null
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!
}
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : null)

/** utime+stime (ms) and VmRSS/VmHWM (MB) of a process. */
function procUsage(pid: number): { cpuMs: number; rssMb: number; hwmMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(f[11]) + Number(f[12])
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string) => Number(status.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0)
  return { cpuMs: ticks * 10, rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 }
}

interface Worker {
  proc: ReturnType<typeof Bun.spawn>
  call(req: Request): Promise<any>
}

async function startWorker(storeUrl: string): Promise<Worker> {
  let next = 0
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>()
  let ready!: () => void
  const isReady = new Promise<void>((r) => (ready = r))
  // SIM_WORKER_FLAGS: extra bun flags for the workers (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
  const flags = process.env.SIM_WORKER_FLAGS?.split(' ').filter(Boolean) ?? []
  const proc = Bun.spawn([process.execPath, ...flags, join(import.meta.dir, 'worker.ts')], {
    env: { ...process.env, SIM_STORE: storeUrl, BUN_CONFIG_MAX_HTTP_REQUESTS: '65000' },
    stdio: ['ignore', 'inherit', 'inherit'],
    ipc(msg: { ready?: boolean; id?: number; res?: unknown; error?: string }) {
      if (msg.ready) return ready()
      const p = pending.get(msg.id!)
      pending.delete(msg.id!)
      if (msg.error) p?.reject(new Error(msg.error))
      else p?.resolve(msg.res)
    },
  })
  children.add(proc)
  void proc.exited.then((code) => {
    children.delete(proc)
    for (const p of pending.values()) p.reject(new Error(`worker ${proc.pid} exited with ${code}`))
  })
  await isReady
  return {
    proc,
    call: (req) =>
      new Promise((resolve, reject) => {
        const id = next++
        pending.set(id, { resolve, reject })
        proc.send({ id, req })
      }),
  }
}

async function startStore(
  dir: string,
): Promise<{ url: string; pid: number; stop(): Promise<void>; stats(): Promise<any> }> {
  // SIM_STORE_FLAGS: extra bun flags for the store process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
  const flags = process.env.SIM_STORE_FLAGS?.split(' ').filter(Boolean) ?? []
  const proc = Bun.spawn(
    [process.execPath, ...flags, join(import.meta.dir, 'store.ts'), join(dir, 'kv.db'), '18500'],
    { stdout: 'pipe', stderr: 'inherit' },
  )
  const reader = proc.stdout.getReader()
  let text = ''
  while (!text.includes('\n')) {
    const { value, done } = await reader.read()
    if (done) throw new Error(`the store process exited before it was ready: ${text}`)
    text += new TextDecoder().decode(value)
  }
  const url = text.trim().split(' ')[1]!
  children.add(proc)
  return {
    url,
    pid: proc.pid,
    stats: async () => (await fetch(`${url}/sim/stats`)).json(),
    async stop() {
      proc.kill('SIGTERM')
      await proc.exited
      children.delete(proc)
    },
  }
}

/**
 * Poll until the store is quiet: the parked watches and the bytes sent stay the same for 4 polls
 * in a row (150 ms), so every watch a change woke has been answered and parked again. Bounded.
 */
async function quiet(
  store: { stats(): Promise<any> },
  timeoutMs: number,
): Promise<{ bytes: number; waiters: number; ok: boolean }> {
  const deadline = now() + timeoutMs
  let last = { bytes: -1, waiters: -1 }
  let same = 0
  for (;;) {
    const s = await store.stats()
    same = s.bytes === last.bytes && s.waiters === last.waiters ? same + 1 : 0
    if (same >= 3) return { bytes: s.bytes, waiters: s.waiters, ok: true }
    if (now() > deadline) return { bytes: s.bytes, waiters: s.waiters, ok: false }
    last = s
    await Bun.sleep(50) // polling a condition with a deadline
  }
}

/** Children to stop when the driver is told to stop (SIGINT/SIGTERM): by PID, each one we started. */
const children = new Set<{ kill(sig?: number | NodeJS.Signals): void }>()
/** Store directories to remove then too. */
const dirs = new Set<string>()
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    for (const c of children) c.kill('SIGKILL')
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
    process.exit(130)
  })
}

const MAX_RSS_MB = Number(args['max-rss-mb'])
/** Time one scenario and design may take. */
const RUN_BUDGET_MS = 10 * 60_000

async function runOne(scenario: Scenario, design: Design, l: SimLayout): Promise<SimResult> {
  // the store's database on tmpfs when there is one: its fsyncs would measure the shared disk, not the design
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'weft-sim-'))
  dirs.add(dir)
  const store = await startStore(dir)
  const workers: Worker[] = []
  const wOf = (h: number) => workers[h % workers.length]!
  const result: SimResult = {
    scenario,
    design,
    networks: l.networks.length,
    notes: [],
    commit: gitCommit(),
  }
  // the machine is shared: a run that takes too much memory or time is stopped (and says so)
  const runStarted = now()
  let stopped: string | undefined
  const guard = setInterval(() => {
    let mb = 0
    const each: string[] = []
    for (const pid of [store.pid, ...workers.map((w) => w.proc.pid)]) {
      try {
        const p = procUsage(pid).rssMb
        mb += p
        each.push(p.toFixed(0))
      } catch {
        // exited meanwhile
      }
    }
    const over =
      mb > MAX_RSS_MB
        ? `${mb.toFixed(0)} MB of memory (store, workers: ${each.join(', ')} MB)`
        : now() - runStarted > RUN_BUDGET_MS
          ? `more than ${RUN_BUDGET_MS / 60_000} min`
          : undefined
    if (over && !stopped) {
      stopped = `stopped after ${over}`
      log(`${scenario.name} ${design}: ${stopped}`)
      for (const w of workers) w.proc.kill('SIGKILL')
    }
  }, 1000)
  try {
    const client = ConsulStore.connect({ address: store.url, retries: 2, timeoutMs: 120_000 })
    log(
      `${scenario.name} ${design}: loading ${l.networks.length} networks, ${scenario.endpoints} endpoints`,
    )
    await loadLayout(client, l)
    const byKey = new Map((await client.list(keys.endpoints())).map((e) => [e.key, e]))
    const treeBytes = JSON.stringify(
      await (await fetch(`${store.url}/v1/kv/${ROOT}?recurse=true`)).json(),
    ).length
    result.treeResponseBytes = treeBytes

    const nw = Math.min(Number(args.workers), scenario.hosts)
    for (let w = 0; w < nw; w++) workers.push(await startWorker(store.url))
    const s0 = await store.stats()
    const began = now()
    await Promise.all(
      workers.map((w, wi) =>
        w.call({
          t: 'start',
          design,
          hosts: l.nodes
            .map((n, h) => ({ n, h }))
            .filter(({ h }) => h % nw === wi)
            .map(({ n, h }) => ({
              index: h,
              node: n.name,
              own:
                design === 'scoped'
                  ? l.endpointsByHost[h]!.map((e) =>
                      byKey.get(keys.endpoint(e.networkId, e.id))!,
                    ).map((e) => ({ ...e, modifyIndex: String(e.modifyIndex) }))
                  : [],
            })),
        }),
      ),
    )
    const synced = await Promise.all(
      workers.map((w) => w.call({ t: 'synced', timeoutMs: 600_000 })),
    )
    const expectedWaiters =
      design === 'scoped' ? l.networksByHost.reduce((a, n) => a + 2 + n.length, 0) : scenario.hosts
    const q0 = await quiet(store, 120_000)
    if (!q0.ok) result.notes.push('the store did not settle after the initial sync')
    result.initialSync = {
      seconds: synced.some((s) => s.ms === null) ? null : (now() - began) / 1000,
      bytes: q0.bytes - s0.bytes,
    }
    const fp = await Promise.all(workers.map((w) => w.call({ t: 'footprint' })))
    result.mirrorKeysPerHost = fp.reduce((a, f) => a + f.keys, 0) / scenario.hosts
    if (design === 'scoped')
      result.followingPerHost = fp.reduce((a, f) => a + f.following, 0) / scenario.hosts
    log(
      `${scenario.name} ${design}: synced in ${result.initialSync.seconds?.toFixed(1)} s, ${(result.initialSync.bytes / 2 ** 20).toFixed(1)} MB; ${expectedWaiters} watches (${q0.waiters} parked)`,
    )
    result.watches = expectedWaiters

    // --- single changes, one at a time ---
    const rand = mulberry(42)
    const pick = () => {
      const h = Math.floor(rand() * scenario.hosts)
      const nets = l.networksByHost[h]!
      const j = nets[Math.floor(rand() * nets.length)]!
      return { h, net: l.networks[j]! }
    }
    const changes = design === 'tree' ? Number(args['tree-changes']) : Number(args.changes)
    const lat: number[] = []
    const bytes: number[] = []
    const affectedCounts: number[] = []
    const cpu0 = await cpuAll(workers, store.pid)
    for (let i = 0; i < changes; i++) {
      const { h, net } = pick()
      const before = (await store.stats()).bytes
      const c = await wOf(h).call({ t: 'connect', host: h, network: net.record.name })
      const affected = net.hosts.filter((x) => x !== h)
      affectedCounts.push(affected.length)
      const key = `${net.record.vni}/${c.ip}`
      const seen = await Promise.all(
        workers.map((w, wi) =>
          w.call({
            t: 'expect',
            key,
            hosts: affected.filter((x) => x % nw === wi),
            timeoutMs: 60_000,
          }),
        ),
      )
      if (seen.some((s) => s.last === null && s.missing > 0))
        result.notes.push(`change ${i}: not on every affected host within 60 s`)
      else lat.push(Math.max(c.t1, ...seen.map((s) => s.last ?? 0)) - c.t0)
      const q = await quiet(store, 60_000)
      bytes.push(q.bytes - before)
    }
    const cpu1 = await cpuAll(workers, store.pid)
    const hostCpu = cpu1.hosts - cpu0.hosts
    result.change = {
      samples: lat.length,
      meanAffectedHosts: mean(affectedCounts)!,
      bytesPerChange: mean(bytes)!,
      p50ms: pct(lat, 50),
      p99ms: pct(lat, 99),
      maxMs: pct(lat, 100),
      storeCpuMsPerChange: (cpu1.store - cpu0.store) / changes,
      hostCpuUsPerHostPerChange: (hostCpu * 1000) / changes / scenario.hosts,
      hostCpuUsPerAffectedHostPerChange: (hostCpu * 1000) / changes / mean(affectedCounts)!,
    }
    log(
      `${scenario.name} ${design}: change p50 ${result.change.p50ms?.toFixed(0)} ms p99 ${result.change.p99ms?.toFixed(0)} ms, ${(result.change.bytesPerChange / 1024).toFixed(1)} KB/change`,
    )

    // --- a burst of connects, all at once ---
    const burst = Number(design === 'tree' ? args['tree-burst'] : args.burst)
    const cpuB0 = await cpuAll(workers, store.pid)
    const t0 = now()
    const deadline = t0 + (design === 'tree' ? 120_000 : 300_000)
    let failures = 0
    let lastReturn = t0
    const arrivals = await Promise.all(
      Array.from({ length: burst }, async () => {
        const { h, net } = pick()
        let c
        try {
          c = await wOf(h).call({ t: 'connect', host: h, network: net.record.name })
        } catch {
          failures++
          return null
        }
        lastReturn = Math.max(lastReturn, c.t1)
        const affected = net.hosts.filter((x) => x !== h)
        const left = Math.max(1, deadline - now())
        const seen = await Promise.all(
          workers.map((w, wi) =>
            w.call({
              t: 'expect',
              key: `${net.record.vni}/${c.ip}`,
              hosts: affected.filter((x) => x % nw === wi),
              timeoutMs: left,
            }),
          ),
        )
        if (seen.some((s) => s.last === null && s.missing > 0)) return null
        return Math.max(c.t1, ...seen.map((s) => s.last ?? 0))
      }),
    )
    const done = arrivals.filter((a): a is number => a !== null)
    const cpuB1 = await cpuAll(workers, store.pid)
    result.burst = {
      connects: burst,
      failures,
      converged: done.length,
      seconds: done.length === burst ? (Math.max(...done) - t0) / 1000 : null,
      apiSeconds: (lastReturn - t0) / 1000,
      storeCpuSeconds: (cpuB1.store - cpuB0.store) / 1000,
      hostCpuSeconds: (cpuB1.hosts - cpuB0.hosts) / 1000,
    }
    log(
      `${scenario.name} ${design}: burst of ${burst}: ${result.burst.seconds === null ? `${done.length} of ${burst} converged within the deadline` : `${result.burst.seconds.toFixed(2)} s`}`,
    )
    // the machine is shared: what else ran shows in the burst's seconds (not in its CPU-seconds)
    result.notes.push(
      `load average ${loadavg()[0]!.toFixed(1)} (1 min, ${cpus().length} CPUs) after the burst`,
    )
    const u = procUsage(store.pid)
    result.store = { rssMb: u.rssMb, hwmMb: u.hwmMb, cpuSeconds: u.cpuMs / 1000 }
    result.workersRssMb = (await cpuAll(workers, store.pid)).rssMb
    return result
  } catch (e) {
    if (!stopped) throw e
    return { ...result, skipped: stopped }
  } finally {
    clearInterval(guard)
    for (const w of workers) {
      await w.call({ t: 'stop' }).catch((e: Error) => log(`worker stop: ${e.message}`))
      w.proc.kill('SIGTERM')
      await w.proc.exited
    }
    await store.stop()
    rmSync(dir, { recursive: true, force: true })
    dirs.delete(dir)
  }
}

async function cpuAll(
  workers: Worker[],
  storePid: number,
): Promise<{ hosts: number; store: number; rssMb: number }> {
  const ws = await Promise.all(workers.map((w) => w.call({ t: 'cpu' })))
  return {
    hosts: ws.reduce((a, w) => a + w.cpuMs, 0),
    rssMb: ws.reduce((a, w) => a + w.rssMb, 0),
    store: procUsage(storePid).cpuMs,
  }
}

function gitCommit(): string | undefined {
  try {
    return Bun.spawnSync(['git', 'rev-parse', '--short', 'HEAD'], { cwd: import.meta.dir })
      .stdout.toString()
      .trim()
  } catch {
    return undefined // not a checkout
  }
}

function mulberry(seed: number): () => number {
  return () => {
    seed |= 0
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// --- main ---
const wanted = args.scenarios ? new Set(args.scenarios.split(',')) : undefined
const designs = args.designs!.split(',') as Design[]
for (const d of designs)
  if (d !== 'scoped' && d !== 'tree') throw new Error(`unknown design ${d}: use scoped and/or tree`)
const known = [SMOKE, ...CURVE, ...SCENARIOS, ...PROFILE]
const scenarios = wanted ? known.filter((s) => wanted.has(s.name)) : [...CURVE, ...SCENARIOS]
if (wanted && scenarios.length !== wanted.size)
  throw new Error(`unknown scenario in ${args.scenarios}: ${known.map((s) => s.name).join(', ')}`)
// with --out everything goes there (the report too): a trial run leaves bench/ as it is
const reportOptions = {
  out: args.out,
  argv: process.argv.slice(2),
  ...(args.out && { reportPath: join(args.out, 'SIM-REPORT.md') }),
}
const results: SimResult[] = []
if (args.merge) {
  const earlier = (JSON.parse(readFileSync(args.merge, 'utf8')) as { results: SimResult[] }).results
  const runNow = new Set(scenarios.flatMap((s) => designs.map((d) => `${s.name}/${d}`)))
  const commit = gitCommit()
  results.push(
    ...earlier.filter(
      (r) => !(runNow.has(`${r.scenario.name}/${r.design}`) && r.commit === commit),
    ),
  )
}
for (const s of scenarios) {
  const l = buildLayout(s)
  for (const d of designs) {
    const treeKeys = s.endpoints * 2 + l.networks.length * 3 + s.hosts
    if (d === 'tree' && treeKeys * s.hosts > Number(args['tree-max-keys'])) {
      results.push({
        scenario: s,
        design: 'tree',
        networks: l.networks.length,
        skipped: `the whole tree (${treeKeys} keys) to ${s.hosts} hosts is ${((treeKeys * s.hosts) / 1e6).toFixed(0)} M keys per change: not run (the cost is computed)`,
        notes: [],
      })
      log(`${s.name} tree: skipped (${treeKeys} keys x ${s.hosts} hosts)`)
      continue
    }
    results.push(await runOne(s, d, l))
    // after every run: a run stopped later still leaves what was measured
    await writeSimReport(results, reportOptions)
  }
}
void nodeName
await writeSimReport(results, reportOptions)
