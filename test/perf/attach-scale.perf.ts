// Scratch scale probe for the control plane (not part of `bun test`): N endpoints over M
// networks attached concurrently through 3 agents; prints connect throughput and when every
// agent's datapath holds everything. Usage: bun run test/perf/attach-scale.perf.ts [N] [M] [bpf|kernel]
import { createTopology } from '../harness/index.ts'
import { startAgents } from '../agent/agents.ts'

const N = Number(process.argv[2] ?? 300)
const M = Number(process.argv[3] ?? 30)
const datapath = (process.argv[4] ?? 'bpf') as 'bpf' | 'kernel'
const topo = await createTopology({ hosts: 3 })
try {
  const agents = await startAgents(topo, { datapath, ttl: '10s' })
  for (let i = 0; i < M; i++) {
    const r = await agents[0]!.api('POST', '/v1/networks', {
      name: `s${i}`,
      subnet: `10.${100 + Math.floor(i / 200)}.${i % 200}.0/24`,
    })
    if (r.status !== 201) throw new Error(JSON.stringify(r.body))
  }
  const sandboxes: { host: number; ns: string; net: string }[] = []
  for (let i = 0; i < N; i++)
    sandboxes.push({ host: i % 3, ns: (await topo.addContainer(i % 3)).ns, net: `s${i % M}` })
  const t0 = performance.now()
  let done = 0
  const lat: number[] = []
  await Promise.all(
    [0, 1, 2].map(async (h) => {
      const mine = sandboxes.filter((s) => s.host === h)
      let next = 0
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < mine.length) {
            const s = mine[next++]!
            const c0 = performance.now()
            const r = await agents[h]!.api('POST', `/v1/networks/${s.net}/connect`, {
              sandbox: s.ns,
            })
            lat.push(performance.now() - c0)
            if (r.status !== 201) console.error(r.status, r.body)
            if (++done % 50 === 0)
              console.log(
                `${done}/${N} connected at ${((performance.now() - t0) / 1000).toFixed(1)} s`,
              )
          }
        }),
      )
    }),
  )
  lat.sort((a, b) => a - b)
  console.log(
    `all ${N} connects returned after ${((performance.now() - t0) / 1000).toFixed(1)} s; connect p50 ${lat[Math.floor(N / 2)]!.toFixed(0)} ms p99 ${lat[Math.floor(N * 0.99)]!.toFixed(0)} ms`,
  )
  for (const a of agents) {
    const f = (await Bun.file(`/proc/${a.proc.pid}/stat`).text()).split(') ')[1]!.split(' ')
    const rss = (await Bun.file(`/proc/${a.proc.pid}/status`).text()).match(/VmRSS:\s+(\d+)/)?.[1]
    console.log(
      `${a.node}: cpu ${((Number(f[11]) + Number(f[12])) / 100).toFixed(1)} s, rss ${Math.round(Number(rss) / 1024)} MB`,
    )
  }
  const m = await agents[1]!.api('GET', '/metrics')
  console.log(
    String(m.body)
      .split('\n')
      .filter((l) => l.startsWith('weft_reconcile') || l.startsWith('weft_endpoints'))
      .join('\n'),
  )
} finally {
  await topo.destroy()
}
