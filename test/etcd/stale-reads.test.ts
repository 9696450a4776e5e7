// Reads answered while the cluster store is unreachable say they may be stale: the API adds a
// Warning header to 200 answers of networks, inspect, endpoints and nodes (writes get 503 as
// before), and the CLI prints it on stderr. No root: the app and a fake agent in this process.
import { describe, expect, test } from 'bun:test'
import { createApp } from '../../src/api/index.ts'
import { StoreUnreachableError } from '../../src/errors/index.ts'
import { createClient } from '../../src/cli/client.ts'
import { createLogger } from '../../src/log.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fakeAgent } from '../unit/api-fake.ts'

const quiet = { log: createLogger({ level: 'silent', name: 'test' }) }

const STALE =
  /^299 weft "the cluster store is unreachable \(etcd: no leader\): this is this agent's local copy and may be stale"$/

describe('reads from the local copy while the store is down', () => {
  test('200 reads carry the Warning only while the store is unreachable; writes are 503 without it', async () => {
    const agent = fakeAgent()
    const app = createApp(agent, quiet)
    const get = (path: string) => app.request(path)
    await app.request('/v1/networks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'blue' }),
    })
    expect((await get('/v1/networks')).headers.get('warning')).toBeNull()

    agent.healthReport = {
      ...agent.healthReport,
      ok: false,
      store: { reachable: false, lastError: 'etcd: no leader' },
    }
    for (const path of ['/v1/networks', '/v1/networks/blue', '/v1/endpoints', '/v1/nodes']) {
      const r = await get(path)
      expect(r.status).toBe(200)
      expect(r.headers.get('warning')).toMatch(STALE)
    }
    agent.failWith(
      'createNetwork',
      new StoreUnreachableError('store unreachable at etcd://x: no leader'),
    )
    const w = await app.request('/v1/networks', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'red' }),
    })
    expect(w.status).toBe(503)
    expect(w.headers.get('warning')).toBeNull()
    // /healthz and /v1/stats are this node's own: no warning
    expect((await get('/v1/stats')).headers.get('warning')).toBeNull()
  })

  test('the CLI client hands the warning to stderr, and still returns the answer', async () => {
    const agent = fakeAgent()
    agent.healthReport = {
      ...agent.healthReport,
      ok: false,
      store: { reachable: false, lastError: 'etcd: no leader' },
    }
    const app = createApp(agent, quiet)
    const dir = mkdtempSync(join(tmpdir(), 'weft-stale-'))
    const socket = join(dir, 'api.sock')
    const server = Bun.serve({ unix: socket, fetch: (req) => app.fetch(req) })
    try {
      const warnings: string[] = []
      const client = createClient(
        { host: `unix://${socket}`, socket, baseUrl: 'http://weft' },
        (w) => warnings.push(w),
      )
      expect(await client.get('/v1/nodes')).toBeArray()
      expect(warnings).toEqual([
        "warning: the cluster store is unreachable (etcd: no leader): this is this agent's local copy and may be stale",
      ])
    } finally {
      server.stop(true)
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
