// Endpoints, nodes, stats, health and metrics.
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi'
import { ownWords } from '../client-wording.ts'
import type { AgentApi, HealthReport } from '../deps.ts'
import type { DiskFullWatch } from '../disk-watch.ts'
import {
  EndpointSchema,
  ErrorSchema,
  HealthSchema,
  NodeSchema,
  VniStatsSchema,
} from '../schemas.ts'
import { endpointJson } from './networks.ts'
import { judgeNode, type NodeJudgement, type StoreContact } from '../../doctor/index.ts'

const json = <T extends z.ZodType>(schema: T, description: string) => ({
  description,
  content: { 'application/json': { schema } },
})

export function systemRoutes(app: OpenAPIHono, api: AgentApi, disk: DiskFullWatch) {
  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/endpoints',
      tags: ['endpoints'],
      summary: 'List endpoints of every network',
      responses: {
        200: json(z.array(EndpointSchema), 'Endpoints'),
        503: json(ErrorSchema, 'Store unreachable'),
      },
    }),
    async (c) => c.json((await api.endpoints()).map(endpointJson), 200),
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/nodes',
      tags: ['nodes'],
      summary: 'List nodes and whether they are alive',
      responses: { 200: json(z.array(NodeSchema), 'Nodes') },
    }),
    async (c) => {
      // what this agent can truthfully say: Unknown while its mirror cannot be refreshed
      const [nodes, health] = await Promise.all([api.nodes(), api.health()])
      const contact = storeContact(health)
      return c.json(
        nodes.map((n) => ({
          name: n.name,
          alive: n.alive,
          endpoints: n.endpoints,
          ...statusOf(judgeNode(n.alive, contact)),
          ...(n.record
            ? {
                advertise: n.record.advertise,
                datapath: n.record.datapath,
                version: n.record.version,
                started: n.record.started,
              }
            : {}),
          ...(!n.record && n.probe ? { advertise: n.probe.vtep } : {}),
          ...(n.probe ? { probe: n.probe } : {}),
        })),
        200,
      )
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/v1/stats',
      tags: ['stats'],
      summary: 'Per-VNI counters of this node (packets, bytes, drops by reason)',
      responses: { 200: json(z.array(VniStatsSchema), 'Counters') },
    }),
    async (c) => {
      // counters are this node's and stay readable while the store is down: names are a label
      const listed = await Promise.allSettled([api.listNetworks()])
      const nets = new Map(
        (listed[0].status === 'fulfilled' ? listed[0].value : []).map((n) => [n.vni, n.name]),
      )
      const s = await api.stats()
      return c.json(
        s.map((v) => ({
          vni: v.vni,
          ...(nets.has(v.vni) ? { network: nets.get(v.vni)! } : {}),
          txPackets: String(v.txPackets),
          txBytes: String(v.txBytes),
          rxPackets: String(v.rxPackets),
          rxBytes: String(v.rxBytes),
          drops: Object.fromEntries(Object.entries(v.drops).map(([k, n]) => [k, String(n)])),
          ...(v.outPackets !== undefined
            ? { outPackets: String(v.outPackets), outBytes: String(v.outBytes ?? 0n) }
            : {}),
          ...(v.published?.length
            ? {
                published: v.published.map((p) => ({
                  ...p,
                  connections: String(p.connections),
                  packets: String(p.packets),
                  bytes: String(p.bytes),
                })),
              }
            : {}),
        })),
        200,
      )
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/healthz',
      tags: ['system'],
      summary: 'Agent health',
      responses: { 200: json(HealthSchema, 'Healthy'), 503: json(HealthSchema, 'Unhealthy') },
    }),
    async (c) => {
      const h = inOwnWords(await api.health())
      const full = disk.state
      const report = full ? { ...h, ok: false, disk: full } : h
      return c.json(report, report.ok ? 200 : 503)
    },
  )

  app.openapi(
    createRoute({
      method: 'get',
      path: '/metrics',
      tags: ['system'],
      summary:
        'Prometheus text: per-VNI packets/bytes, drops by reason, reconcile duration, watch lag, store reachability',
      responses: {
        200: {
          description: 'Prometheus text exposition format 0.0.4',
          content: {
            'text/plain': {
              schema: z
                .string()
                .openapi({ example: 'weft_vni_tx_packets_total{vni="256",network="blue"} 42' }),
            },
          },
        },
      },
    }),
    async (c) => {
      const res = c.text(await api.metrics(), 200)
      res.headers.set('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
      return res
    },
  )
}

/** The store's contact as the health report tells it. */
export function storeContact(h: HealthReport): StoreContact {
  return {
    reachable: h.store.reachable,
    lastAnswerAt: h.store.lastContact ? Date.parse(h.store.lastContact) : 0,
    unreachableSince: h.store.unreachableSince ? Date.parse(h.store.unreachableSince) : 0,
  }
}

const statusOf = (j: NodeJudgement) => ({
  status: j.state,
  ...(j.reason ? { statusReason: j.reason } : {}),
})

/** The health report with the HTTP client's wording of its last errors put in ours. */
function inOwnWords(h: HealthReport): HealthReport {
  return {
    ...h,
    store: { ...h.store, ...(h.store.lastError ? { lastError: ownWords(h.store.lastError) } : {}) },
    reconcile: {
      ...h.reconcile,
      lastError: h.reconcile.lastError === null ? null : ownWords(h.reconcile.lastError),
      ...(h.reconcile.failures
        ? { failures: h.reconcile.failures.map((f) => ({ ...f, error: ownWords(f.error) })) }
        : {}),
    },
  }
}
