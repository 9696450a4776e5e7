// CPU of the admin API's own path per connect call, apart from what the connect does: the real
// listener (src/api/http-server.ts) and app (src/api/app.ts) on a unix socket in a temp dir,
// with an agent whose connect answers at once; the client is Bun's fetch in the same process,
// as the bench's drivers and the CLI call it. For the before/after of a change to the API path.
//   bun bench/api-cpu.ts [calls] [inFlight]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, MAX_BODY_BYTES } from '../src/api/app.ts'
import type { AgentApi } from '../src/api/deps.ts'
import { listenHttp } from '../src/api/http-server.ts'
import { createLogger } from '../src/log.ts'

const calls = Number(process.argv[2] ?? 3000)
const inFlight = Number(process.argv[3] ?? 16)
const dir = mkdtempSync(join(tmpdir(), 'weft-api-cpu-'))
const socket = join(dir, 'api.sock')
const unused = () => Promise.reject(new Error('not in this bench'))
let n = 0
const api = {
  node: 'n1',
  listNetworks: unused,
  createNetwork: unused,
  getNetwork: unused,
  removeNetwork: unused,
  endpoints: unused,
  disconnect: unused,
  nodes: unused,
  stats: unused,
  metrics: unused,
  health: unused,
  async connect(input) {
    const ip = `10.1.${(n >> 8) & 255}.${n & 255}`
    n++
    return {
      status: 'attached',
      record: {
        id: n.toString(16).padStart(64, '0'),
        networkId: 'f'.repeat(64),
        name: input.sandbox!,
        ip,
        mac: '02:42:0a:01:00:01',
        node: 'n1',
        sandbox: input.sandbox!,
        ifname: 'eth0',
        external: false,
        created: new Date().toISOString(),
      },
    }
  },
} as AgentApi
const log = createLogger({ name: 'api-cpu', level: 'warn' })
const app = createApp(api, { log })
const server = await listenHttp(app.fetch, { unix: socket }, { maxBodyBytes: MAX_BODY_BYTES, log })
try {
  const call = async (i: number) => {
    const r = await fetch(`http://weft/v1/networks/conv${i % 300}/connect`, {
      method: 'POST',
      unix: socket,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sandbox: `/run/netns/wtab12-h2-c${i}` }),
    } as RequestInit)
    if (r.status !== 201) throw new Error(`connect answered ${r.status}: ${await r.text()}`)
    await r.json()
  }
  const run = async (total: number) => {
    let next = 0
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < total) await call(next++)
      }),
    )
  }
  await run(500) // warm up: JIT and connections
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await run(calls)
  const c = process.cpuUsage(c0)
  console.log(
    JSON.stringify({
      calls,
      inFlight,
      cpuUsPerCall: Math.round((c.user + c.system) / calls),
      userUsPerCall: Math.round(c.user / calls),
      wallUsPerCall: Math.round(((performance.now() - t0) * 1000) / calls),
    }),
  )
} finally {
  await server.stop()
  rmSync(dir, { recursive: true, force: true })
}
