// Load for a names resolver, shared by bench/dns.ts (names on their own) and the main
// benchmark's "way out and names" phase: one query in flight (idle latency), and many sockets
// with a window of queries in flight each (answers per second, latency under load). The load
// generator is the calling process, so queries/s is a floor for what the resolver answers.
import type { DnsClient } from '../../test/dns/client.ts'

/**
 * Round-trip times (ms) of `count` queries, one at a time, cycling through `names`; every
 * answer must be NOERROR with an address (a fast refusal is no figure).
 */
export async function idleLatencies(
  client: DnsClient,
  names: readonly string[],
  count: number,
): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    const name = names[i % names.length]!
    const r = await client.query(name)
    if (r.rcode !== 'NOERROR' || !r.data.length)
      throw new Error(`names: ${name} answered ${r.rcode} ${r.data.join(',')} (query ${i + 1})`)
    out.push(r.ms)
  }
  return out
}

export interface LoadedRun {
  answersPerSecond: number
  answered: number
  failed: number
  /** Round trips (ms) of the answered queries. */
  latencies: number[]
}

/** Every client keeps `window` queries in flight for `seconds`; NOERROR answers count. */
export async function loadedRun(
  clients: readonly DnsClient[],
  names: readonly string[],
  seconds: number,
  window: number,
): Promise<LoadedRun> {
  const latencies: number[] = []
  let answered = 0
  let failed = 0
  const began = performance.now()
  const until = began + seconds * 1000
  await Promise.all(
    clients.flatMap((c) =>
      Array.from({ length: window }, async (_, k) => {
        while (performance.now() < until) {
          const r = await c.query(names[k % names.length]!)
          if (r.rcode === 'NOERROR') {
            answered++
            latencies.push(r.ms)
          } else failed++
        }
      }),
    ),
  )
  const elapsed = (performance.now() - began) / 1000
  return { answersPerSecond: answered / elapsed, answered, failed, latencies }
}
