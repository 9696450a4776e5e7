// One simulated host's CPU per change, without a store: the real mirror (libSQL in memory),
// view and reconciler of one host of a scenario's shape, fed the watch answers a peer's connect
// brings (the changed network's whole prefix, as a Consul blocking query answers), one at a
// time. What a burst costs each affected host, apart from the store and the sockets; run it
// under --cpu-prof to see where that goes.
//
//   bun bench/sim/host-cost.ts [--scenario 1000h-20k-k5] [--changes 1000]
import { createHash } from 'node:crypto'
import { parseArgs } from 'node:util'
import { keys, type EndpointRecord } from '../../src/cluster/index.ts'
import { ClusterMirror, MirrorDb } from '../../src/mirror/index.ts'
import { Reconciler } from '../../src/reconcile/index.ts'
import type { StoreEntry } from '../../src/store/index.ts'
import { macFromIp } from '../../src/net/index.ts'
import { FakeDatapath } from '../../test/fakes/datapath.ts'
import { buildLayout, nodeName } from './layout.ts'
import { CURVE, SCENARIOS, SMOKE } from './scenarios.ts'

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', default: '1000h-20k-k5' },
    changes: { type: 'string', default: '1000' },
  },
  strict: true,
})
const scenario = [...SCENARIOS, ...CURVE, SMOKE].find((s) => s.name === args.scenario)
if (!scenario)
  throw new Error(
    `unknown scenario ${args.scenario}: use one of ${SCENARIOS.map((s) => s.name).join(', ')}`,
  )
const l = buildLayout(scenario)
const me = 0
let index = 1n
const entry = (key: string, value: unknown): StoreEntry => ({
  key,
  value: typeof value === 'string' ? value : JSON.stringify(value),
  modifyIndex: index++,
})

const db = await MirrorDb.open(':memory:')
const mirror = new ClusterMirror(db)
const reconciler = new Reconciler({
  datapath: new FakeDatapath(),
  node: nodeName(me),
  view: () => mirror.view(),
  changes: (listener) => mirror.onChange(listener),
  resyncMs: 3_600_000,
})
mirror.onChange(() => reconciler.trigger())
reconciler.start()

// what the host follows: the node list, the network list, its networks' endpoints
await mirror.apply(
  {
    kind: 'snapshot',
    entries: l.nodes.map((n) => entry(keys.node(n.name), n)),
    revision: index,
  },
  keys.nodes(),
)
await mirror.apply(
  {
    kind: 'snapshot',
    entries: l.networks.map((n) => entry(keys.network(n.record.id), n.record)),
    revision: index,
  },
  keys.networks(),
)
const prefixes = new Map<string, StoreEntry[]>()
for (const j of l.networksByHost[me]!) {
  const net = l.networks[j]!
  const eps = net.hosts.flatMap((h) =>
    l.endpointsByHost[h]!.filter((e) => e.networkId === net.record.id),
  )
  const entries = eps.map((e) => entry(keys.endpoint(e.networkId, e.id), e))
  prefixes.set(net.record.id, entries)
  await mirror.apply(
    { kind: 'snapshot', entries, revision: index },
    keys.endpointsOf(net.record.id),
  )
}
await reconciler.settled()

// a peer's connect in one of this host's networks: the network's prefix again, one more endpoint
const nets = l.networksByHost[me]!
const changes = Number(args.changes)
const cpu0 = process.cpuUsage()
const t0 = performance.now()
for (let i = 0; i < changes; i++) {
  const net = l.networks[nets[i % nets.length]!]!
  const entries = prefixes.get(net.record.id)!
  const ip = `10.${(net.index >> 8) & 255}.${net.index & 255}.${100 + Math.floor(i / nets.length)}`
  const peer = net.hosts.find((h) => h !== me)!
  const rec: EndpointRecord = {
    id: createHash('sha256').update(`sim-new-${i}`).digest('hex'),
    networkId: net.record.id,
    name: `new-${i}`,
    ip,
    mac: macFromIp(ip),
    node: nodeName(peer),
    sandbox: `new-${i}`,
    ifname: 'eth0',
    external: false,
    created: '2026-12-01T00:00:00.000Z',
  }
  entries.push(entry(keys.endpoint(net.record.id, rec.id), rec))
  await mirror.apply(
    { kind: 'snapshot', entries: [...entries], revision: index },
    keys.endpointsOf(net.record.id),
  )
  await reconciler.settled()
}
const cpu = process.cpuUsage(cpu0)
if (mirror.view().invalid.length)
  throw new Error(`the simulated records do not parse: ${mirror.view().invalid[0]!.error}`)
const wall = performance.now() - t0
console.log(
  JSON.stringify({
    scenario: scenario.name,
    changes,
    mirrorKeys: db.entries().size,
    cpuUsPerChange: Math.round((cpu.user + cpu.system) / changes),
    wallUsPerChange: Math.round((wall * 1000) / changes),
  }),
)
await reconciler.stop()
db.close()
