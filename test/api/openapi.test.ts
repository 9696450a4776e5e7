// /openapi.json is a valid OpenAPI 3 document generated from the schemas that validate
// requests; /metrics is well-formed Prometheus text whose per-VNI counters move when real
// packets cross the overlay. Real agents in host namespaces, real pings.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import SwaggerParser from '@apidevtools/swagger-parser'
import { createTopology, ping, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}

/**
 * A strict reader of the Prometheus text format 0.0.4: every line is a HELP, a TYPE or a
 * sample; every sample belongs to a family with a TYPE; label values are quoted and escaped.
 */
function parsePrometheus(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>()
  const helps = new Set<string>()
  const samples: Sample[] = []
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
  const sampleRe = new RegExp(`^(${NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*",?)*)\\})? (-?(?:\\d+(?:\\.\\d+)?(?:e[+-]?\\d+)?|NaN|\\+Inf|-Inf))(?: -?\\d+)?$`)
  for (const [i, line] of text.split('\n').entries()) {
    if (line === '') continue
    let m: RegExpExecArray | null
    if ((m = new RegExp(`^# HELP (${NAME}) .*$`).exec(line))) {
      helps.add(m[1]!)
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line))) {
      if (types.has(m[1]!)) throw new Error(`line ${i + 1}: second TYPE for ${m[1]}`)
      types.set(m[1]!, m[2]!)
    } else if ((m = sampleRe.exec(line))) {
      const name = m[1]!
      const family = types.has(name) ? name : name.replace(/_(total|sum|count|bucket)$/, '')
      if (!types.has(family) && !types.has(name)) throw new Error(`line ${i + 1}: sample ${name} has no TYPE`)
      const labels: Record<string, string> = {}
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!
      samples.push({ name, labels, value: Number(m[3]) })
    } else {
      throw new Error(`line ${i + 1} is not Prometheus text: ${JSON.stringify(line)}`)
    }
  }
  for (const t of types.keys()) if (!helps.has(t)) throw new Error(`${t} has a TYPE but no HELP`)
  return { types, samples }
}

describe(`admin API documents and metrics (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agents: RunningAgent[]
  let vni = 0

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2, containersPerHost: 1 })
    agents = await startAgents(topo, { datapath: DATAPATH })
  }, 60_000)

  afterAll(async () => {
    await topo.destroy()
  }, 60_000)

  const metrics = async (a: RunningAgent) => {
    const res = await fetch('http://weft/metrics', { unix: a.socket } as RequestInit)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toStartWith('text/plain; version=0.0.4')
    return parsePrometheus(await res.text())
  }
  const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
    samples
      .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
      .reduce((a, s) => a + s.value, 0)

  test('the admin socket is mode 0600', () => {
    for (const a of agents) expect(statSync(a.socket).mode & 0o777).toBe(0o600)
  })

  test('/openapi.json validates as OpenAPI 3 and documents every route', async () => {
    const r = await agents[0]!.api('GET', '/openapi.json')
    expect(r.status).toBe(200)
    expect(r.body.openapi).toMatch(/^3\./)
    const doc = structuredClone(r.body)
    await SwaggerParser.validate(doc) // throws with the first problem
    const paths = Object.fromEntries(Object.entries(r.body.paths as Record<string, object>).map(([p, ops]) => [p, Object.keys(ops).sort()]))
    expect(paths).toEqual({
      '/v1/networks': ['get', 'post'],
      '/v1/networks/{ref}': ['delete', 'get'],
      '/v1/networks/{ref}/connect': ['post'],
      '/v1/networks/{ref}/disconnect': ['post'],
      '/v1/endpoints': ['get'],
      '/v1/nodes': ['get'],
      '/v1/stats': ['get'],
      '/healthz': ['get'],
      '/metrics': ['get'],
      '/v1/doctor': ['get'],
    })
    for (const s of ['Error', 'CreateNetwork', 'Connect', 'Disconnect', 'Network', 'Endpoint', 'Node', 'VniStats', 'Health', 'DoctorReport']) {
      expect(r.body.components.schemas[s]).toBeDefined()
    }
  })

  test('the documented request schema is the one that validates requests', async () => {
    const doc = (await agents[0]!.api('GET', '/openapi.json')).body
    const create = doc.components.schemas.CreateNetwork
    expect(create.required).toEqual(['name'])
    expect(create.additionalProperties).toBe(false)
    // every documented field is accepted...
    const body: Record<string, unknown> = {
      name: 'doc-check', driver: 'overlay', subnet: '10.0.90.0/24', gateway: '10.0.90.1', ipRange: '10.0.90.128/25',
      vni: 9090, mtu: 1400, internal: false, labels: { a: 'b' }, options: { c: 'd' },
    }
    expect(Object.keys(body).sort()).toEqual(Object.keys(create.properties).sort())
    const ok = await agents[0]!.api('POST', '/v1/networks', body)
    expect(ok.status).toBe(201)
    // ...and one the document does not list is refused
    const bad = await agents[0]!.api('POST', '/v1/networks', { name: 'doc-check-2', color: 'red' })
    expect(bad.status).toBe(400)
    expect(bad.body.error).toBe('invalid_input')
    expect((await agents[0]!.api('DELETE', '/v1/networks/doc-check')).status).toBe(200)
  })

  test('/healthz is ok on both agents', async () => {
    for (const a of agents) {
      const h = await a.api('GET', '/healthz')
      expect(h.status).toBe(200)
      expect(h.body).toMatchObject({ ok: true, node: a.node, store: { reachable: true }, datapath: DATAPATH })
    }
  })

  test('/metrics parses as Prometheus text and carries every family', async () => {
    const { types, samples } = await metrics(agents[1]!)
    expect(Object.fromEntries(types)).toMatchObject({
      weft_vni_tx_packets_total: 'counter',
      weft_vni_tx_bytes_total: 'counter',
      weft_vni_rx_packets_total: 'counter',
      weft_vni_rx_bytes_total: 'counter',
      weft_drops_total: 'counter',
      weft_reconcile_passes_total: 'counter',
      weft_reconcile_duration_seconds_total: 'counter',
      weft_reconcile_last_duration_seconds: 'gauge',
      weft_watch_lag_seconds: 'gauge',
      weft_store_reachable: 'gauge',
    })
    expect(value(samples, 'weft_store_reachable')).toBe(1)
    expect(value(samples, 'weft_reconcile_passes_total')).toBeGreaterThan(0)
    expect(value(samples, 'weft_watch_lag_seconds')).toBeGreaterThanOrEqual(0)
  })

  test('per-VNI packet counters increase when a ping crosses the overlay', async () => {
    const n = await agents[0]!.api('POST', '/v1/networks', { name: 'counted', subnet: '10.0.91.0/24' })
    expect(n.status).toBe(201)
    vni = Number(n.body.Options['com.docker.network.driver.overlay.vxlanid_list'])
    const ips: string[] = []
    for (const [i, a] of agents.entries()) {
      const e = await a.api('POST', '/v1/networks/counted/connect', { sandbox: topo.hosts[i]!.containers[0]!.ns })
      expect(e.status).toBe(201)
      ips.push(e.body.ip)
    }
    const c1 = topo.hosts[0]!.containers[0]!.ns
    await waitFor(async () => (await ping(c1, ips[1]!, { count: 1 })).received === 1, { what: 'first ping across' })
    const labels = { vni: String(vni), network: 'counted' }
    const before = [await metrics(agents[0]!), await metrics(agents[1]!)].map((m) => ({
      tx: value(m.samples, 'weft_vni_tx_packets_total', labels),
      rx: value(m.samples, 'weft_vni_rx_packets_total', labels),
      txBytes: value(m.samples, 'weft_vni_tx_bytes_total', labels),
    }))
    expect((await ping(c1, ips[1]!, { count: 5, intervalS: 0.1 })).received).toBe(5)
    // counters are per-CPU maps / device stats read at scrape time: poll until they show it
    await waitFor(
      async () => {
        const [m1, m2] = [await metrics(agents[0]!), await metrics(agents[1]!)]
        return (
          value(m1.samples, 'weft_vni_tx_packets_total', labels) >= before[0]!.tx + 5 &&
          value(m1.samples, 'weft_vni_tx_bytes_total', labels) >= before[0]!.txBytes + 5 * 84 &&
          value(m2.samples, 'weft_vni_rx_packets_total', labels) >= before[1]!.rx + 5 &&
          value(m2.samples, 'weft_vni_tx_packets_total', labels) >= before[1]!.tx + 5
        )
      },
      { what: `VNI ${vni} counters to count 5 echo requests and 5 replies`, timeoutMs: 5000 },
    )
    // /v1/stats says the same
    const s = (await agents[0]!.api('GET', '/v1/stats')).body.find((x: { vni: number }) => x.vni === vni)
    expect(Number(s.txPackets)).toBeGreaterThanOrEqual(before[0]!.tx + 5)
    expect(s.network).toBe('counted')
  }, 30_000)
})
