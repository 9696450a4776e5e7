// A simulator worker process: runs many simulated hosts (host.ts) against one store and answers
// the driver's requests over IPC: start, synced, connect, expect (when did these hosts program
// an endpoint), cpu, footprint, stop. Started by bench/sim/run.ts, never on its own.
import { ConsulStore } from '../../src/store/index.ts'
import { SimHost, now, type Design } from './host.ts'

export type Request =
  | {
      t: 'start'
      design: Design
      hosts: {
        index: number
        node: string
        own: { key: string; value: string; modifyIndex: string }[]
      }[]
    }
  | { t: 'synced'; timeoutMs: number }
  | { t: 'connect'; host: number; network: string }
  | { t: 'expect'; key: string; hosts: number[]; timeoutMs: number }
  | { t: 'cpu' }
  | { t: 'footprint' }
  | { t: 'stop' }

const storeUrl = process.env.SIM_STORE
if (!storeUrl) throw new Error('SIM_STORE is not set: the worker is started by bench/sim/run.ts')
// The longest wait the server allows: an answer without a change (a wait that ran out) sends the
// prefix again, which would blur what a change costs (the agent's 60 s wait adds that background).
const store = ConsulStore.connect(
  { address: storeUrl, retries: 2, timeoutMs: 120_000 },
  { watchWaitMs: 600_000 },
)
const hosts = new Map<number, SimHost>()
/** Hosts of this worker starting (and syncing) at once. */
const START_CONCURRENCY = 16

/**
 * A full collection whenever the process grew by GC_STEP_MB since the last one. Many hosts share
 * one heap here (an agent has its own): their first answers (every network record) and a burst's
 * snapshots are garbage once mirrored, and the collector let them pile up past the driver's
 * memory guard. Bounded cost: one collection per GC_STEP_MB of growth.
 */
const GC_STEP_MB = 192
let collectedAtMb = 0
function collectWhenGrown(): void {
  const mb = process.memoryUsage.rss() / 2 ** 20
  if (mb < collectedAtMb + GC_STEP_MB) return
  Bun.gc(true)
  collectedAtMb = process.memoryUsage.rss() / 2 ** 20
}
setInterval(collectWhenGrown, 500).unref()

async function handle(m: Request): Promise<unknown> {
  switch (m.t) {
    case 'start': {
      const queue = [...m.hosts]
      const one = async () => {
        for (let h = queue.shift(); h; h = queue.shift()) {
          const host = new SimHost(h.node, m.design, store)
          hosts.set(h.index, host)
          await host.start(h.own.map((e) => ({ ...e, modifyIndex: BigInt(e.modifyIndex) })))
          await host.whenSynced(120_000) // the driver's 'synced' says whether it did
          collectWhenGrown()
        }
      }
      await Promise.all(Array.from({ length: START_CONCURRENCY }, one))
      return { hosts: hosts.size }
    }
    case 'synced': {
      const began = now()
      for (;;) {
        const behind = [...hosts.values()].filter((h) => !h.synced()).length
        if (behind === 0) return { ms: now() - began }
        if (now() - began > m.timeoutMs) return { ms: null, behind }
        await Bun.sleep(20) // polling a condition with a deadline
      }
    }
    case 'connect': {
      const t0 = now()
      const rec = await hosts.get(m.host)!.connect(m.network)
      return { t0, t1: now(), ip: rec.ip, id: rec.id }
    }
    case 'expect': {
      const timeout = new Promise<null>((r) => setTimeout(() => r(null), m.timeoutMs))
      const all = Promise.all(m.hosts.map((h) => hosts.get(h)!.seen(m.key)))
      const at = await Promise.race([all, timeout])
      return {
        last: at ? Math.max(...at) : null,
        missing: at
          ? 0
          : m.hosts.filter((h) => !hosts.get(h)!.datapath.firstSeen.has(m.key)).length,
      }
    }
    case 'cpu': {
      const u = process.cpuUsage()
      return { cpuMs: (u.user + u.system) / 1000, rssMb: process.memoryUsage().rss / 2 ** 20 }
    }
    case 'footprint': {
      let following = 0
      let keys = 0
      for (const h of hosts.values()) {
        const f = h.footprint()
        following += f.following
        keys += f.keys
      }
      return { hosts: hosts.size, following, keys }
    }
    case 'stop': {
      await Promise.all([...hosts.values()].map((h) => h.stop()))
      hosts.clear()
      return {}
    }
  }
}

process.on('message', (msg: { id: number; req: Request }) => {
  handle(msg.req).then(
    (res) => process.send!({ id: msg.id, res }),
    (e: unknown) => process.send!({ id: msg.id, error: (e as Error).stack ?? String(e) }),
  )
})
process.on('SIGTERM', () => process.exit(0)) // an orderly exit (writes a --cpu-prof profile)
process.on('disconnect', () => process.exit(0)) // the driver is gone: do not outlive it
process.send!({ ready: true })
