// KV load generator, run inside a host namespace (nsenter) against the cluster store:
// `writer` PUTs values carrying their send time to a fixed ring of keys; `watcher` follows
// the prefix and records the write→watch delivery latency of every change it sees. Prints
// one JSON line.
// - the embedded Consul-compatible store: plain PUT /v1/kv, blocking GETs (?recurse&index=N).
//   It is secure by default: --join-token-file is the store host's <data>/join-token; its CA
//   is pinned and every request carries its secret, as an agent's do;
// - etcd (--store etcd://A:2379,B:2379,…): PUT /v3/kv/put through the JSON gateway, and the
//   watch the agents use (src/store/etcd: a snapshot, then the stream's deltas).
//
//   bun run bench/kv-load.ts writer  --store https://198.18.0.1:8500 --join-token-file DATA/join-token --prefix bench/kv --seconds 5 --concurrency 8
//   bun run bench/kv-load.ts watcher --store https://198.18.0.1:8500 --join-token-file DATA/join-token --prefix bench/kv --seconds 7
//   bun run bench/kv-load.ts writer  --store etcd://198.18.0.231:2379,198.18.0.232:2379,198.18.0.233:2379 --prefix bench/kv
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { parseJoinToken } from '../src/kv/index.ts'
import { TlsPolicy } from '../src/kv/client/tls.ts'

const { positionals, values } = parseArgs({
  args: Bun.argv.slice(2),
  allowPositionals: true,
  options: {
    store: { type: 'string' },
    'join-token-file': { type: 'string' },
    prefix: { type: 'string', default: 'bench/kv' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '8' },
    keys: { type: 'string', default: '64' },
  },
})
const role = positionals[0]
const store = values.store
if (!store || (role !== 'writer' && role !== 'watcher')) {
  throw new Error(
    'usage: kv-load.ts writer|watcher --store URL [--join-token-file PATH] [--prefix P] [--seconds S]',
  )
}
if (store.startsWith('etcd://')) {
  await runOnEtcd(role, store)
  process.exit(0)
}

/** fetch options every request carries: the pinned CA (learnt once, by TLS handshake) and the token. */
const secure = await (async (): Promise<RequestInit> => {
  const file = values['join-token-file']
  if (!file) return {}
  const { caDigest, secret } = parseJoinToken(readFileSync(file, 'utf8'), file)
  const tls = await new TlsPolicy({ pinnedCaDigest: caDigest }).forFetch(new URL(store), {
    timeoutMs: 5000,
  })
  return { tls, headers: { 'X-Consul-Token': secret } } as RequestInit
})()
const prefix = values.prefix!
const endAt = Date.now() + Number(values.seconds) * 1000
/** Wall-clock ms with sub-ms precision, comparable between processes on one machine. */
const now = () => performance.timeOrigin + performance.now()

if (role === 'writer') {
  const keys = Number(values.keys)
  const latencies: number[] = []
  let errors = 0
  let seq = 0
  const t0 = now()
  await Promise.all(
    Array.from({ length: Number(values.concurrency) }, async () => {
      while (Date.now() < endAt) {
        const n = seq++
        const start = now()
        const res = await fetch(`${store}/v1/kv/${prefix}/k${n % keys}`, {
          ...secure,
          method: 'PUT',
          body: JSON.stringify({ seq: n, t: start }),
        }).catch(() => null)
        if (res?.ok) {
          await res.arrayBuffer()
          latencies.push(now() - start)
        } else errors++
      }
    }),
  )
  const seconds = (now() - t0) / 1000
  console.log(
    JSON.stringify({ role, writes: latencies.length, errors, seconds, latenciesMs: latencies }),
  )
} else {
  const delivery: number[] = []
  const seen = new Map<string, number>()
  let index = '0'
  let polls = 0
  let errors = 0
  console.log(JSON.stringify({ role: 'ready' }))
  while (Date.now() < endAt) {
    const wait = Math.max(1, Math.min(5000, endAt - Date.now()))
    const ctrl = new AbortController()
    const timer = setTimeout(() => ctrl.abort(), wait + 2000)
    const res = await fetch(`${store}/v1/kv/${prefix}?recurse&index=${index}&wait=${wait}ms`, {
      ...secure,
      signal: ctrl.signal,
    }).catch(() => null)
    clearTimeout(timer)
    const at = now()
    if (!res || (res.status !== 200 && res.status !== 404)) {
      errors++
      await Bun.sleep(50)
      continue
    }
    polls++
    index = res.headers.get('X-Consul-Index') ?? index
    if (res.status === 404) continue
    const entries = (await res.json()) as {
      Key: string
      ModifyIndex: number
      Value: string | null
    }[]
    const initial = polls === 1 // what existed before we watched is not a delivery
    for (const e of entries) {
      if (seen.get(e.Key) === e.ModifyIndex) continue
      seen.set(e.Key, e.ModifyIndex)
      if (initial || !e.Value) continue
      const v = JSON.parse(Buffer.from(e.Value, 'base64').toString()) as { t: number }
      delivery.push(at - v.t)
    }
  }
  console.log(
    JSON.stringify({ role, deliveries: delivery.length, polls, errors, deliveryMs: delivery }),
  )
}

/** The same two roles on etcd, through the client the agents use. */
async function runOnEtcd(role: 'writer' | 'watcher', url: string): Promise<void> {
  const { EtcdGateway, EtcdStore, parseEtcdUrl } = await import('../src/store/etcd/index.ts')
  const { endpoints } = parseEtcdUrl(url)
  const prefix = values.prefix!
  const endAt = Date.now() + Number(values.seconds) * 1000
  const now = () => performance.timeOrigin + performance.now()
  const b64 = (x: string) => Buffer.from(x).toString('base64')
  if (role === 'writer') {
    const gw = new EtcdGateway({ endpoints })
    const keys = Number(values.keys)
    const latencies: number[] = []
    let errors = 0
    let seq = 0
    const t0 = now()
    await Promise.all(
      Array.from({ length: Number(values.concurrency) }, async () => {
        while (Date.now() < endAt) {
          const n = seq++
          const start = now()
          const ok = await gw
            .call(
              '/v3/kv/put',
              {
                key: b64(`${prefix}/k${n % keys}`),
                value: b64(JSON.stringify({ seq: n, t: start })),
              },
              { write: true },
            )
            .then(() => true)
            .catch(() => false)
          if (ok) latencies.push(now() - start)
          else errors++
        }
      }),
    )
    const seconds = (now() - t0) / 1000
    console.log(
      JSON.stringify({ role, writes: latencies.length, errors, seconds, latenciesMs: latencies }),
    )
    return
  }
  const delivery: number[] = []
  let events = 0
  let errors = 0
  let ready = false
  const store = new EtcdStore({ endpoints })
  const w = store.watch(
    `${prefix}/`,
    (e) => {
      const at = now()
      events++
      if (!ready) {
        ready = true
        console.log(JSON.stringify({ role: 'ready' }))
      }
      // the first answer is the state before we watched: not a delivery
      if (e.kind !== 'delta') return
      for (const p of e.put) delivery.push(at - (JSON.parse(p.value) as { t: number }).t)
    },
    { onError: () => errors++ },
  )
  while (Date.now() < endAt) await Bun.sleep(Math.min(200, Math.max(1, endAt - Date.now())))
  w.stop()
  await w.done
  console.log(
    JSON.stringify({
      role,
      deliveries: delivery.length,
      polls: events,
      errors,
      deliveryMs: delivery,
    }),
  )
}
