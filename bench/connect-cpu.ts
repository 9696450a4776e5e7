// CPU of the connect path alone, in one process: ClusterOps.connect against weft's embedded KV
// server (real HTTP, real libSQL) with a mirror that is the agent's in essence (own writes at
// once, IPAM reads from the store as the scoped reader does). TREE is a checkout of weft (the
// before/after of a change), so two versions run the same driver.
// Run it inside a network namespace of its own (its server listens on 127.0.0.1):
//   ip netns add cc && ip netns exec cc ip link set lo up
//   ip netns exec cc bun bench/connect-cpu.ts TREE [networks] [perNetwork] [inFlight] [grouped]
//   ip netns del cc
// "grouped": a network's connects are next to each other in the job list, so the connects in
// flight share one or two networks (an agent scaling one service) instead of all different ones.
import { networkInterfaces } from 'node:os'
import type { StoreEntry, StoreOp } from '../src/store/index.ts'

// a namespace of its own has nothing but lo
if (Object.keys(networkInterfaces()).some((name) => name !== 'lo'))
  throw new Error(
    'run this inside a network namespace of its own (see the header): it serves on 127.0.0.1',
  )

const tree = process.argv[2]!
const networks = Number(process.argv[3] ?? 100)
const per = Number(process.argv[4] ?? 10)
const inFlight = Number(process.argv[5] ?? 16)
// grouped: a network's connects one after another in the job list (16 in flight share 2 networks)
const grouped = process.argv[6] === 'grouped'
const { ClusterOps, ROOT } = await import(`${tree}/src/cluster/index.ts`)
const { startKvRig } = await import(`${tree}/test/fakes/agent-store.ts`)

const rig = await startKvRig()
// the mirror's entries by directory (what a prefix read of the agent's mirror answers from)
const local = new Map<string, Map<string, StoreEntry>>()
const dir = (key: string) => key.slice(0, key.lastIndexOf('/') + 1)
const keep = (e: StoreEntry) => {
  const d = local.get(dir(e.key)) ?? new Map<string, StoreEntry>()
  local.set(dir(e.key), d.set(e.key, e))
}
const store = {
  ...rig.store,
  address: rig.store.address,
  leases: rig.store.leases,
  get: (k: string) => rig.store.get(k),
  list: (p: string) => rig.store.list(p),
  watch: rig.store.watch.bind(rig.store),
  async txn(ops: StoreOp[]) {
    const out = await rig.store.txn(ops)
    if (out.ok) for (const w of out.written) keep(w)
    return out
  },
}
const mirror = {
  async list(prefix: string) {
    if (prefix.startsWith(`${ROOT}ipam/`)) return rig.store.list(prefix)
    return [...(local.get(prefix)?.values() ?? [])].sort((x, y) => (x.key < y.key ? -1 : 1))
  },
}
const ops = new ClusterOps(store, 1450, mirror)
for (let n = 0; n < networks; n++)
  await ops.createNetwork({ name: `m${n}`, subnet: `10.${100 + (n >> 8)}.${n & 255}.0/24` })
for (const e of await rig.store.list(ROOT)) keep(e)
const jobs: [string, string][] = []
if (grouped)
  for (let n = 0; n < networks; n++)
    for (let i = 0; i < per; i++) jobs.push([`m${n}`, `s${n}-${i}`])
else
  for (let i = 0; i < per; i++)
    for (let n = 0; n < networks; n++) jobs.push([`m${n}`, `s${n}-${i}`])
let next = 0
const t0 = performance.now()
const c0 = process.cpuUsage()
let txns = 0
const orig = store.txn
store.txn = async (o: StoreOp[]) => (txns++, orig(o))
await Promise.all(
  Array.from({ length: inFlight }, async () => {
    while (next < jobs.length) {
      const [network, sandbox] = jobs[next++]!
      await ops.connect({ network, sandbox }, 'n1', () => new Set<string>())
    }
  }),
)
const c1 = process.cpuUsage(c0)
const wall = performance.now() - t0
const cpuMs = (c1.user + c1.system) / 1000
console.log(
  JSON.stringify({
    tree,
    grouped,
    connects: jobs.length,
    wallMs: Math.round(wall),
    cpuMs: Math.round(cpuMs),
    cpuPerConnectMs: +(cpuMs / jobs.length).toFixed(3),
    txnsPerConnect: +(txns / jobs.length).toFixed(3),
  }),
)
await rig.cleanup()
process.exit(0)
