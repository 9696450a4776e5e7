// Names, measured: queries per second one host answers, latency p50/p99 (idle and under
// load), connect→resolvable and disconnect→NXDOMAIN on another host, the agent-restart gap,
// and a forwarded name through a dnsmasq on the underlay. Real agents (dist/weft) in host
// namespaces, queries from inside `ip netns` sandboxes to 127.0.0.11, every packet inside the
// bench's namespaces. Run as root from the repository root:
//
//   bun run bench/dns.ts [--seconds S] [--cycles N] [--clients C] [--window W] [--out FILE]
//
// The load generator is this process (one thread, C sockets in C sandboxes, W queries in
// flight each) on the same machine as the agents: queries/s is a floor for what one agent
// answers, not a ceiling.
import { parseArgs } from 'node:util'
import { writeFileSync } from 'node:fs'
import { createTopology, leaks, waitFor, type Topology } from '../test/harness/index.ts'
import { startAgents, type RunningAgent } from '../test/agent/agents.ts'
import { dnsClientIn, type DnsClient } from '../test/dns/client.ts'
import { disconnectAll, etcNetnsLeftovers } from '../test/dns/cleanup.ts'
import { startUpstream } from '../test/dns/upstream.ts'
import { idleLatencies, loadedRun } from './lib/names-load.ts'

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    cycles: { type: 'string', default: '100' },
    clients: { type: 'string', default: '4' },
    window: { type: 'string', default: '32' },
    out: { type: 'string' },
  },
  strict: true,
})
const SECONDS = Number(flags.seconds)
const CYCLES = Number(flags.cycles)
const CLIENTS = Number(flags.clients)
const WINDOW = Number(flags.window)
for (const [k, v] of Object.entries({
  seconds: SECONDS,
  cycles: CYCLES,
  clients: CLIENTS,
  window: WINDOW,
})) {
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${k} must be a positive number`)
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN
}
const ms = (x: number) => Math.round(x * 1000) / 1000
const log = (s: string) => process.stderr.write(`${s}\n`)

async function main() {
  let topo: Topology | undefined
  let agents: RunningAgent[] | undefined
  const stop = async () => {
    await disconnectAll(agents).catch(() => {})
    if (topo) etcNetnsLeftovers(topo.prefix)
    await topo?.destroy()
  }
  const onSignal = () => void stop().finally(() => process.exit(130))
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    topo = await createTopology({ hosts: 2, containersPerHost: CLIENTS + 1 })
    const upstream = await startUpstream(topo, { 'ext.example.test': '192.0.2.7' })
    agents = await startAgents(topo, { extraArgs: ['--resolv-conf', upstream.resolvConf] })
    const [a1, a2] = agents as [RunningAgent, RunningAgent]
    expect201(await a1.api('POST', '/v1/networks', { name: 'bench', subnet: '10.42.0.0/24' }))
    // host 1: the target (with an alias) and the load clients; host 2: the freshness querier
    const h1 = topo.hosts[0]!.containers.map((c) => c.ns)
    const target = h1[0]!
    expect201(
      await a1.api('POST', '/v1/networks/bench/connect', { sandbox: target, aliases: ['svc'] }),
    )
    for (const ns of h1.slice(1))
      expect201(await a1.api('POST', '/v1/networks/bench/connect', { sandbox: ns }))
    const remote = topo.hosts[1]!.containers[0]!.ns
    expect201(await a2.api('POST', '/v1/networks/bench/connect', { sandbox: remote }))
    const clients: DnsClient[] = []
    for (const ns of h1.slice(1)) clients.push(await dnsClientIn(`/run/netns/${ns}`))
    const remoteClient = await dnsClientIn(`/run/netns/${remote}`)
    await waitFor(async () => (await remoteClient.query('svc')).rcode === 'NOERROR', {
      what: 'svc resolvable on host 2',
      timeoutMs: 2000,
    })

    // 1. latency, one query in flight (idle)
    const idle = await idleLatencies(clients[0]!, [target, 'svc'], 2000)
    log(`idle latency: p50 ${ms(pct(idle, 50))} ms, p99 ${ms(pct(idle, 99))} ms`)

    // 2. throughput: CLIENTS sockets × WINDOW in flight, for SECONDS
    const {
      answersPerSecond: qps,
      failed,
      latencies: loaded,
    } = await loadedRun(clients, [target, 'svc'], SECONDS, WINDOW)
    log(
      `throughput: ${Math.round(qps)} answers/s (${CLIENTS}×${WINDOW} in flight, ${failed} failed); under load p50 ${ms(pct(loaded, 50))} ms, p99 ${ms(pct(loaded, 99))} ms`,
    )

    // 3. forwarded (through dnsmasq on the underlay)
    const fwd: number[] = []
    for (let i = 0; i < 500; i++) {
      const r = await clients[0]!.query('ext.example.test')
      if (r.data[0] !== '192.0.2.7') throw new Error(`forwarded answer: ${r.rcode} ${r.data}`)
      fwd.push(r.ms)
    }
    log(`forwarded: p50 ${ms(pct(fwd, 50))} ms, p99 ${ms(pct(fwd, 99))} ms`)

    // 4. freshness on the other host: connect→resolvable, disconnect→NXDOMAIN
    const cycler = (await topo.addContainer(0)).ns
    const up: number[] = []
    const down: number[] = []
    for (let i = 0; i < CYCLES; i++) {
      const c = await a1.api('POST', '/v1/networks/bench/connect', {
        sandbox: cycler,
        name: 'blink',
      })
      if (c.status !== 201) throw new Error(`connect blink: ${c.status} ${JSON.stringify(c.body)}`)
      let t0 = performance.now()
      await waitFor(async () => (await remoteClient.query('blink')).data[0] === c.body.ip, {
        what: 'blink up',
        timeoutMs: 5000,
        intervalMs: 1,
      })
      up.push(performance.now() - t0)
      const d = await a1.api('POST', '/v1/networks/bench/disconnect', { endpoint: 'blink' })
      if (d.status !== 200) throw new Error(`disconnect blink: ${d.status}`)
      t0 = performance.now()
      await waitFor(async () => (await remoteClient.query('blink')).rcode === 'NXDOMAIN', {
        what: 'blink gone',
        timeoutMs: 5000,
        intervalMs: 1,
      })
      down.push(performance.now() - t0)
    }
    log(
      `connect→resolvable on another host: p50 ${ms(pct(up, 50))} ms, p99 ${ms(pct(up, 99))} ms, max ${ms(Math.max(...up))} ms (${CYCLES} cycles)`,
    )
    log(
      `disconnect→NXDOMAIN on another host: p50 ${ms(pct(down, 50))} ms, p99 ${ms(pct(down, 99))} ms, max ${ms(Math.max(...down))} ms`,
    )

    // 5. the restart gap: how long names do not answer in a sandbox while its agent restarts
    const gaps: Record<string, number> = {}
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      let lastOk = performance.now()
      let gap = 0
      let probing = true
      const probe = (async () => {
        while (probing) {
          const r = await remoteClient.query('svc', undefined, 10)
          const now = performance.now()
          if (r.rcode === 'NOERROR') {
            gap = Math.max(gap, now - r.ms - lastOk)
            lastOk = now
          }
        }
      })()
      await waitFor(() => performance.now() - lastOk < 20, {
        what: 'probe answering',
        timeoutMs: 2000,
      })
      const killedAt = performance.now()
      await agents[1]!.kill(signal)
      await agents[1]!.restart()
      log(
        `  (${signal}: agent down and back with its API in ${ms(performance.now() - killedAt)} ms)`,
      )
      await waitFor(async () => performance.now() - lastOk < 20, {
        what: 'names back after restart',
        timeoutMs: 20_000,
      })
      probing = false
      await probe
      gaps[signal] = ms(gap)
      log(`agent restart (${signal}): names unanswered for ${ms(gap)} ms`)
    }

    for (const c of [...clients, remoteClient]) c.close()
    const result = {
      when: new Date().toISOString(),
      idleLatencyMs: { p50: ms(pct(idle, 50)), p99: ms(pct(idle, 99)) },
      throughput: {
        answersPerSecond: Math.round(qps),
        clients: CLIENTS,
        window: WINDOW,
        seconds: SECONDS,
        failed,
      },
      loadedLatencyMs: { p50: ms(pct(loaded, 50)), p99: ms(pct(loaded, 99)) },
      forwardedLatencyMs: { p50: ms(pct(fwd, 50)), p99: ms(pct(fwd, 99)) },
      connectToResolvableMs: {
        p50: ms(pct(up, 50)),
        p99: ms(pct(up, 99)),
        max: ms(Math.max(...up)),
        cycles: CYCLES,
      },
      disconnectToNxdomainMs: {
        p50: ms(pct(down, 50)),
        p99: ms(pct(down, 99)),
        max: ms(Math.max(...down)),
      },
      restartGapMs: gaps,
    }
    console.log(JSON.stringify(result, null, 2))
    if (flags.out) writeFileSync(flags.out, JSON.stringify(result, null, 2) + '\n')
  } finally {
    await stop()
    const left = topo ? await leaks(topo.prefix) : []
    if (left.length) log(`leaked: ${left.join(', ')}`)
  }
}

function expect201(r: { status: number; body: unknown }) {
  if (r.status !== 201) throw new Error(`expected 201, got ${r.status}: ${JSON.stringify(r.body)}`)
}

await main()
