// The network-isolation check shared by the cluster test and the test that proves it catches a
// broken datapath. Two sandboxes in different networks are made to address each other as if
// they shared a link (a host route and a permanent neighbour entry, both ways), so a ping gets
// past both sandboxes' routing and ARP and into the datapath, which alone must stop it.
import { mustRunIn, ping } from '../harness/index.ts'
import type { RunningAgent } from './agents.ts'

export interface Sandbox {
  ns: string
  /** Its endpoint in `network`, as the connect call answered it. */
  ip: string
  mac: string
  ifname: string
  network: string
  /** The agent of the sandbox's host. */
  agent: RunningAgent
}

/**
 * Drops of traffic for an address that is no endpoint of the network, counted by the bpf datapath
 * of `s`'s host in `s`'s network: unknown_dst, or foreign_net when the address lies in another
 * weft network's subnet (bpf/lib/way_out.h).
 */
async function unknownDst(s: Sandbox): Promise<bigint> {
  const r = await s.agent.api('GET', '/v1/stats')
  if (r.status !== 200) throw new Error(`GET /v1/stats on ${s.agent.node}: ${r.status} ${JSON.stringify(r.body)}`)
  const net = (r.body as { network?: string; drops: Record<string, string> }[]).find((v) => v.network === s.network)
  return BigInt(net?.drops.unknown_dst ?? 0) + BigInt(net?.drops.foreign_net ?? 0)
}

async function pointAt(from: Sandbox, to: Sandbox, add: boolean): Promise<void> {
  if (add) {
    await mustRunIn(from.ns, ['ip', 'route', 'replace', `${to.ip}/32`, 'dev', from.ifname])
    await mustRunIn(from.ns, ['ip', 'neigh', 'replace', to.ip, 'lladdr', to.mac, 'dev', from.ifname, 'nud', 'permanent'])
  } else {
    await mustRunIn(from.ns, ['ip', 'neigh', 'del', to.ip, 'dev', from.ifname])
    await mustRunIn(from.ns, ['ip', 'route', 'del', `${to.ip}/32`, 'dev', from.ifname])
  }
}

/**
 * Ping `to` from `from` (different networks) with the route and neighbour in place, and list
 * what shows they are not isolated: any echo reply, and (bpf datapath, which counts drops by
 * reason; the kernel datapath reports device totals only) fewer unknown_dst/foreign_net drops in the
 * sender's network than requests sent. [] when isolated. Leaves the sandboxes as it found them.
 */
export async function isolationViolations(from: Sandbox, to: Sandbox, opts: { count?: number; countsDrops: boolean }): Promise<string[]> {
  const count = opts.count ?? 3
  const what = `${from.network} ${from.ip} -> ${to.network} ${to.ip}`
  await pointAt(from, to, true)
  await pointAt(to, from, true)
  try {
    const before = opts.countsDrops ? await unknownDst(from) : 0n
    const r = await ping(from.ns, to.ip, { count, intervalS: 0.1 })
    const out: string[] = []
    if (r.sent !== count) throw new Error(`${what}: ping sent ${r.sent} of ${count}: ${r.output}`)
    if (r.received > 0) out.push(`${what}: ${r.received} of ${count} echo requests answered`)
    if (opts.countsDrops) {
      const dropped = (await unknownDst(from)) - before
      if (dropped < BigInt(count)) {
        out.push(`${what}: ${from.agent.node} counted ${dropped} unknown_dst/foreign_net drops in ${from.network}, expected ${count}`)
      }
    }
    return out
  } finally {
    await pointAt(from, to, false)
    await pointAt(to, from, false)
  }
}
