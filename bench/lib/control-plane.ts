// Control-plane figures on 3 hosts running real agents:
//   attach-to-reachable  connect API returns on host 1 -> a container on host 2 gets the first
//                        echo reply from the new endpoint (ping -D timestamps, 1 ms probe interval)
//   convergence          E endpoints over M networks attached concurrently through all 3 agents,
//                        until every host's datapath (Datapath.actual(), read from the kernel)
//                        holds all of them
//   agent footprint      VmRSS and utime+stime of each agent process at that scale
//   KV                   PUT throughput and write->watch delivery latency of the store, with 3
//                        watchers (one per host) while the 3 agents watch too
// Each figure twice, back to back in one run: the agents on host 1's embedded store, then on
// a real three-member etcd (Debian's etcd-server, one member per namespace on the bench's own
// underlay; stopped by PID and removed with the topology).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  createTopology,
  mustRunIn,
  startEtcdCluster,
  type EtcdCluster,
  type Topology,
} from '../../test/harness/index.ts'
import { startAgents, type RunningAgent } from '../../test/agent/agents.ts'
import { startDriver, type DriverHandle } from '../../test/datapath/driver-client.ts'
import { percentile } from './stats.ts'
import { runInNs, startIn, startedPids } from './procs.ts'
import { destroyTopology, liveTopologies } from './setups.ts'

export interface ControlPlaneOptions {
  datapath: 'bpf' | 'kernel'
  attaches: number
  endpoints: number
  networks: number
  kvSeconds: number
  /** Measure the KV store too (once per run is enough: it does not depend on the datapath). */
  kv: boolean
  idleSeconds: number
  convergeTimeoutMs: number
  /** Measure on etcd too, after the embedded store (default true). */
  etcd?: boolean
  progress: (what: string, figure?: string) => void
}

export interface AttachResult {
  samples: number
  failures: number
  /** connect returned -> first reply on the other host, ms */
  p50ms: number
  p99ms: number
  maxMs: number
  /** the connect call itself (host 1 programmed), ms */
  apiP50ms: number
  apiP99ms: number
  /** connect call sent -> first reply on the other host, ms */
  fromCallP50ms: number
  fromCallP99ms: number
  /** replies that arrived before the connect call returned (counted as 0 ms) */
  beforeReturn: number
  samplesMs: number[]
}

export interface ConvergeResult {
  endpoints: number
  networks: number
  hosts: number
  /** first connect sent -> every host's datapath holds every endpoint (null: not within the timeout) */
  seconds: number | null
  /** first connect sent -> last connect call returned */
  apiSeconds: number
  /** each connect call, sent -> returned (48 in flight: 16 per agent), ms */
  connectP50ms: number
  connectP99ms: number
  /** reconciler passes each agent ran while converging, and the time they took (s) */
  reconcilePasses: number[]
  reconcileSeconds: number[]
  /** mean time of a connect on each agent in: the store write, the watch bringing it back, the attach (ms) */
  connectPhasesMs: { write: number; arrive: number; attach: number }[]
  failures: number
  note?: string
}

export interface AgentFootprint {
  node: string
  rssMb: number
  /** CPU seconds the agent used while the endpoints converged */
  convergeCpuSeconds: number
  /** CPU use at rest afterwards, % of one CPU */
  idleCpuPercent: number
  storeHost: boolean
}

export interface KvResult {
  writers: number
  watchers: number
  writesPerSec: number
  writeP50ms: number
  writeP99ms: number
  deliveriesPerSecPerWatcher: number
  deliveryP50ms: number
  deliveryP99ms: number
  errors: number
}

export type ControlPlaneStore = 'embedded' | 'etcd'

/** Every figure with the agents on one store. */
export interface StoreFigures {
  store: ControlPlaneStore
  attach: AttachResult
  converge: ConvergeResult
  agents: AgentFootprint[]
  maxRssMb: number
  kv?: KvResult
  /** etcd: each member's VmRSS after the run, MB. */
  storeMembers?: { name: string; rssMb: number }[]
}

/** The embedded store's figures (top level, as before), and etcd's of the same run. */
export interface ControlPlaneResult extends StoreFigures {
  datapath: 'bpf' | 'kernel'
  store: 'embedded'
  etcd?: StoreFigures | { error: string }
}

const now = () => performance.timeOrigin + performance.now()
const macOf = (ip: string) =>
  '02:42:' +
  ip
    .split('.')
    .map((b) => Number(b).toString(16).padStart(2, '0'))
    .join(':')

export async function runControlPlane(o: ControlPlaneOptions): Promise<ControlPlaneResult> {
  const embedded = await runOnStore('embedded', o)
  let etcd: ControlPlaneResult['etcd']
  if (o.etcd !== false) {
    try {
      etcd = await runOnStore('etcd', { ...o, progress: (w, f) => o.progress(`etcd · ${w}`, f) })
    } catch (e) {
      // the embedded figures stand on their own; the report says why etcd's are missing
      etcd = { error: (e as Error).message.split('\n').slice(0, 3).join(' ') }
      o.progress('etcd', `FAILED: ${etcd.error.slice(0, 200)}`)
    }
  }
  return { datapath: o.datapath, ...embedded, store: 'embedded', ...(etcd ? { etcd } : {}) }
}

async function runOnStore(store: ControlPlaneStore, o: ControlPlaneOptions): Promise<StoreFigures> {
  const topo = await createTopology({ hosts: 3 })
  liveTopologies.add(topo)
  const drivers: DriverHandle[] = []
  topo.track(async () => {
    for (const d of drivers) await d.stop(3000)
  })
  try {
    let etcd: EtcdCluster | undefined
    if (store === 'etcd') {
      o.progress('start a 3-member etcd')
      etcd = await startEtcdCluster(topo, 3)
      for (const m of etcd.members)
        if (m.proc) startedPids.push({ pid: m.proc.pid, cmd: `etcd ${m.name}` })
    }
    o.progress('start 3 agents')
    const agents = await startAgents(topo, {
      datapath: o.datapath,
      ttl: '10s',
      ...(etcd ? { store: etcd.storeUrl } : {}),
    })
    for (const h of topo.hosts) {
      const d = startDriver(h.ns, o.datapath, h.node, h.underlay.ip)
      startedPids.push({ pid: d.pid, cmd: 'nsenter bun run driver.ts' })
      drivers.push(d)
    }
    const attach = await attachToReachable(topo, agents, o)
    const cpuBefore = agents.map((a) => procCpuSeconds(a.proc.pid))
    const converge = await convergence(topo, agents, drivers, o)
    const cpuAfter = agents.map((a) => procCpuSeconds(a.proc.pid))
    o.progress(`agents at rest ${o.idleSeconds} s`)
    const idle0 = agents.map((a) => procCpuSeconds(a.proc.pid))
    const t0 = now()
    await Bun.sleep(o.idleSeconds * 1000) // a measurement window, not synchronisation
    const idleWall = (now() - t0) / 1000
    const footprint: AgentFootprint[] = agents.map((a, i) => ({
      node: a.node,
      rssMb: procRssMb(a.proc.pid),
      convergeCpuSeconds: cpuAfter[i]! - cpuBefore[i]!,
      idleCpuPercent: ((procCpuSeconds(a.proc.pid) - idle0[i]!) / idleWall) * 100,
      storeHost: !etcd && i === 0,
    }))
    const maxRssMb = Math.max(...footprint.map((f) => f.rssMb))
    o.progress('agent footprint', `max RSS ${maxRssMb.toFixed(0)} MB`)
    const kv = o.kv ? await kvBench(topo, agents[0]!, o, etcd) : undefined
    const storeMembers = etcd?.members.map((m) => ({
      name: m.name,
      rssMb: m.proc ? procRssMb(m.proc.pid) : NaN,
    }))
    return {
      store,
      attach,
      converge,
      agents: footprint,
      maxRssMb,
      ...(kv ? { kv } : {}),
      ...(storeMembers ? { storeMembers } : {}),
    }
  } finally {
    await destroyTopology(topo)
  }
}

async function attachToReachable(
  topo: Topology,
  agents: RunningAgent[],
  o: ControlPlaneOptions,
): Promise<AttachResult> {
  const net = await agents[0]!.api('POST', '/v1/networks', {
    name: 'attach',
    subnet: '10.0.0.0/16',
  })
  if (net.status !== 201)
    throw new Error(`create network attach: ${net.status} ${JSON.stringify(net.body)}`)
  const probe = await topo.addContainer(1)
  const p = await agents[1]!.api('POST', '/v1/networks/attach/connect', { sandbox: probe.ns })
  if (p.status !== 201) throw new Error(`connect probe: ${p.status} ${JSON.stringify(p.body)}`)
  const probeIf = p.body.ifname as string
  const samples: number[] = []
  const api: number[] = []
  const fromCall: number[] = []
  let failures = 0
  let beforeReturn = 0
  for (let i = 0; i < o.attaches; i++) {
    const sandbox = (await topo.addContainer(0)).ns
    const ip = `10.0.${1 + Math.floor(i / 250)}.${2 + (i % 250)}`
    // a permanent neighbour entry: the probe never waits on ARP timers, only on the datapath
    await mustRunIn(probe.ns, [
      'ip',
      'neigh',
      'replace',
      ip,
      'lladdr',
      macOf(ip),
      'dev',
      probeIf,
      'nud',
      'permanent',
    ])
    const ping = startIn(probe.ns, [
      'stdbuf',
      '-oL',
      'ping',
      '-D',
      '-n',
      '-i',
      '0.001',
      '-c',
      '1',
      '-w',
      '5',
      ip,
    ])
    const deadline = Date.now() + 5000
    while (!ping.stdout().includes('PING') && Date.now() < deadline) await Bun.sleep(1)
    const t0 = now()
    const r = await agents[0]!.api('POST', '/v1/networks/attach/connect', { sandbox, ip })
    const t1 = now()
    await ping.exited
    const m = ping.stdout().match(/^\[(\d+\.\d+)\] \d+ bytes from/m)
    if (r.status !== 201 || !m) {
      failures++
    } else {
      const reply = Number(m[1]) * 1000
      if (reply < t1) beforeReturn++
      samples.push(Math.max(0, reply - t1))
      fromCall.push(reply - t0)
      api.push(t1 - t0)
    }
    if ((i + 1) % Math.max(1, Math.floor(o.attaches / 10)) === 0 || i + 1 === o.attaches) {
      o.progress(
        `attach-to-reachable ${i + 1}/${o.attaches}`,
        `p50 ${percentile(samples, 50).toFixed(1)} ms`,
      )
    }
  }
  return {
    samples: samples.length,
    failures,
    p50ms: percentile(samples, 50),
    p99ms: percentile(samples, 99),
    maxMs: Math.max(...samples),
    apiP50ms: percentile(api, 50),
    apiP99ms: percentile(api, 99),
    fromCallP50ms: percentile(fromCall, 50),
    fromCallP99ms: percentile(fromCall, 99),
    beforeReturn,
    samplesMs: samples.map((x) => Math.round(x * 100) / 100),
  }
}

/** Endpoint p (0..E-1) -> sandbox and network: each sandbox joins J consecutive networks (mod M). */
export function assignment(endpoints: number, networks: number, hosts: number) {
  const perSandbox = Math.min(10, networks)
  const sandboxes = Math.ceil(endpoints / perSandbox)
  const pairs = Array.from({ length: endpoints }, (_, p) => {
    const s = Math.floor(p / perSandbox)
    // networks counted from the sandbox's place on its host, so each host's sandboxes cover the
    // networks alike and every network spans every host (from `s` itself, 3,000 / 300 put each
    // network on one host: 10·s mod 300 fixes s mod 30, and so s mod 3)
    const onHost = Math.floor(s / hosts)
    return {
      sandbox: s,
      host: s % hosts,
      network: (onHost * perSandbox + (p % perSandbox)) % networks,
    }
  })
  return { sandboxes, pairs }
}

export async function convergence(
  topo: Topology,
  agents: RunningAgent[],
  drivers: DriverHandle[],
  o: ControlPlaneOptions,
): Promise<ConvergeResult> {
  const { sandboxes, pairs } = assignment(o.endpoints, o.networks, agents.length)
  o.progress(`create ${o.networks} networks, ${sandboxes} sandboxes`)
  for (let n = 0; n < o.networks; n++) {
    const r = await agents[0]!.api('POST', '/v1/networks', {
      name: `conv${n}`,
      // 256 networks per second octet, so --networks above 256 stays valid (10.1.255 → 10.2.0)
      subnet: `10.${1 + (n >> 8)}.${n & 255}.0/24`,
    })
    if (r.status !== 201)
      throw new Error(`create network conv${n}: ${r.status} ${JSON.stringify(r.body)}`)
  }
  const sbx: string[] = []
  for (let s = 0; s < sandboxes; s++) sbx.push((await topo.addContainer(s % agents.length)).ns)

  // the lengths of actual()'s two endpoint lists, counted in the driver without building them
  // (2026-12: building and sending them cost the drivers 8-15 CPU-s per 3,000-endpoint run)
  const count = async (d: DriverHandle) => {
    const a = await d.call<{ local: number; remote: number }>('endpointCounts')
    return a.local + a.remote
  }
  const baseline = await Promise.all(drivers.map(count))
  // what each host must hold: its own endpoints + the others' in networks it has a local endpoint in
  const expected = agents.map((_, h) => {
    const mine = new Set(pairs.filter((q) => q.host === h).map((q) => q.network))
    return baseline[h]! + pairs.filter((q) => mine.has(q.network)).length
  })

  o.progress(`attach ${o.endpoints} endpoints concurrently`)
  const t0 = now()
  let failures = 0
  let lastFailure = ''
  let apiDone = 0
  const connectMs: number[] = []
  const reconcile0 = await Promise.all(agents.map(reconcileTotals))
  // Sandboxes attach in parallel (16 in flight per agent); one sandbox's networks one after
  // another, as `docker network connect` would: concurrent connects of the same sandbox race
  // for the next free ethN name in the agent (reported, not benchmarked).
  const perAgent = agents.map((_, h) => {
    const bySandbox = new Map<number, number[]>()
    for (const q of pairs)
      if (q.host === h) bySandbox.set(q.sandbox, [...(bySandbox.get(q.sandbox) ?? []), q.network])
    return [...bySandbox.entries()]
  })
  const calls = Promise.all(
    perAgent.map(async (list, h) => {
      let next = 0
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < list.length) {
            const [sandbox, nets] = list[next++]!
            for (const n of nets) {
              const sent = now()
              const r = await agents[h]!.api('POST', `/v1/networks/conv${n}/connect`, {
                sandbox: sbx[sandbox],
              }).catch((e: Error) => ({ status: 0, body: e.message }))
              connectMs.push(now() - sent)
              if (r.status !== 201) {
                failures++
                lastFailure = `${r.status} ${JSON.stringify(r.body).slice(0, 200)}`
              }
            }
          }
        }),
      )
    }),
  ).then(() => (apiDone = now()))

  let seconds: number | null = null
  let counts = baseline
  const deadline = Date.now() + o.convergeTimeoutMs
  let lastReport = 0
  while (Date.now() < deadline) {
    counts = await Promise.all(drivers.map(count))
    if (counts.every((c, h) => c >= expected[h]!)) {
      seconds = (now() - t0) / 1000
      break
    }
    const got = counts.reduce((a, c, h) => a + c - baseline[h]!, 0)
    const want = expected.reduce((a, c, h) => a + c - baseline[h]!, 0)
    if (Date.now() - lastReport > 1000) {
      lastReport = Date.now()
      o.progress('converging', `${got}/${want} programmed, ${((now() - t0) / 1000).toFixed(1)} s`)
    }
    // Reading every host's maps costs CPU the agents are measured for: poll coarsely while far
    // from done, finely near the end (the figure's resolution is the fine interval).
    await Bun.sleep(got >= want * 0.97 ? 20 : 250)
  }
  await calls
  const apiSeconds = (apiDone - t0) / 1000
  const reconcile1 = await Promise.all(agents.map(reconcileTotals))
  o.progress('converged', seconds === null ? 'NOT within the timeout' : `${seconds.toFixed(2)} s`)
  return {
    endpoints: o.endpoints,
    networks: o.networks,
    hosts: agents.length,
    seconds,
    apiSeconds,
    connectP50ms: percentile(connectMs, 50),
    connectP99ms: percentile(connectMs, 99),
    reconcilePasses: reconcile1.map((r, h) => r.passes - reconcile0[h]!.passes),
    reconcileSeconds: reconcile1.map((r, h) => r.seconds - reconcile0[h]!.seconds),
    connectPhasesMs: reconcile1.map((r, h) => {
      const b = reconcile0[h]!
      const n = Math.max(1, r.connects - b.connects)
      const ms = (p: 'write' | 'arrive' | 'attach') => ((r.phases[p] - b.phases[p]) / n) * 1000
      return { write: ms('write'), arrive: ms('arrive'), attach: ms('attach') }
    }),
    failures,
    ...(seconds === null || failures
      ? {
          note: `counts ${counts.join('/')} of ${expected.join('/')}${failures ? `; ${failures} connect calls failed, last: ${lastFailure}` : ''}`,
        }
      : {}),
  }
}

async function kvBench(
  topo: Topology,
  storeAgent: RunningAgent,
  o: ControlPlaneOptions,
  etcd?: EtcdCluster,
): Promise<KvResult> {
  const script = join(import.meta.dir, '..', 'kv-load.ts')
  // the embedded store as agents reach it: TLS with the pinned CA, the join token's secret;
  // etcd as the agents reach it (plain http on the bench's underlay)
  const store = etcd ? etcd.storeUrl : `https://${topo.hosts[0]!.underlay.ip}:8500`
  const secure = etcd ? [] : ['--join-token-file', join(storeAgent.dataDir, 'join-token')]
  const prefix = `bench/${topo.prefix}`
  const bun = process.execPath
  o.progress('kv: 3 watchers + writer', `${o.kvSeconds} s`)
  const watchers = topo.hosts.map((h) =>
    startIn(h.ns, [
      bun,
      'run',
      script,
      'watcher',
      '--store',
      store,
      ...secure,
      '--prefix',
      prefix,
      '--seconds',
      String(o.kvSeconds + 3),
    ]),
  )
  const deadline = Date.now() + 15_000
  while (!watchers.every((w) => w.stdout().includes('"ready"'))) {
    if (Date.now() > deadline)
      throw new Error(`kv watchers did not start: ${watchers.map((w) => w.stderr()).join(' | ')}`)
    await Bun.sleep(20)
  }
  const concurrency = 8
  const w = await runInNs(
    topo.hosts[1]!.ns,
    [
      bun,
      'run',
      script,
      'writer',
      '--store',
      store,
      ...secure,
      '--prefix',
      prefix,
      '--seconds',
      String(o.kvSeconds),
      '--concurrency',
      String(concurrency),
    ],
    {
      timeoutMs: (o.kvSeconds + 30) * 1000,
    },
  )
  const lastJson = (s: string) => JSON.parse(s.trim().split('\n').pop()!)
  if (w.code !== 0) throw new Error(`kv writer exited ${w.code}: ${w.stderr.slice(-500)}`)
  const wr = lastJson(w.stdout) as {
    writes: number
    errors: number
    seconds: number
    latenciesMs: number[]
  }
  await Promise.all(watchers.map((x) => x.exited))
  const ws = watchers.map(
    (x) => lastJson(x.stdout()) as { deliveries: number; errors: number; deliveryMs: number[] },
  )
  const delivery = ws.flatMap((x) => x.deliveryMs)
  const r: KvResult = {
    writers: concurrency,
    watchers: ws.length,
    writesPerSec: wr.writes / wr.seconds,
    writeP50ms: percentile(wr.latenciesMs, 50),
    writeP99ms: percentile(wr.latenciesMs, 99),
    deliveriesPerSecPerWatcher: delivery.length / ws.length / wr.seconds,
    deliveryP50ms: percentile(delivery, 50),
    deliveryP99ms: percentile(delivery, 99),
    errors: wr.errors + ws.reduce((a, x) => a + x.errors, 0),
  }
  o.progress(
    'kv',
    `${r.writesPerSec.toFixed(0)} writes/s, delivery p99 ${r.deliveryP99ms.toFixed(1)} ms`,
  )
  return r
}

/** The reconciler's pass count and time, and the connects' phases so far, from the agent's /metrics. */
async function reconcileTotals(a: RunningAgent) {
  const r = await a.api('GET', '/metrics')
  if (r.status !== 200) throw new Error(`GET /metrics on ${a.node}: ${r.status}`)
  // an agent without connect timings (an older binary) leaves those figures NaN
  const metric = (name: string, optional = false) => {
    const m = String(r.body).match(
      new RegExp(`^${name.replace(/[{}"]/g, '\\$&')} ([0-9.e+-]+)$`, 'm'),
    )
    if (!m && optional) return NaN
    if (!m) throw new Error(`${name} is missing from ${a.node}'s /metrics`)
    return Number(m[1])
  }
  return {
    passes: metric('weft_reconcile_passes_total'),
    seconds: metric('weft_reconcile_duration_seconds_total'),
    connects: metric('weft_connects_attached_total', true),
    phases: {
      write: metric('weft_connect_phase_seconds_total{phase="write"}', true),
      arrive: metric('weft_connect_phase_seconds_total{phase="arrive"}', true),
      attach: metric('weft_connect_phase_seconds_total{phase="attach"}', true),
    },
  }
}

function procRssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)
  return m ? Number(m[1]) / 1024 : NaN
}

/** utime + stime of a process, in seconds (USER_HZ = 100). */
function procCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}
