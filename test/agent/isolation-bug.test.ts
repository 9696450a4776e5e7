// The isolation check of test/agent/cluster.test.ts can fail for the reason it names: run
// against a datapath that ignores the VNI on encapsulation and local switching (bpf/ built with
// -DWEFT_TEST_IGNORE_VNI into a temp dir and swapped under the running agents the way live
// restore swaps programs, no product hook), it reports the leak; against the real one, nothing.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BPF_ROOT, compileBpfObject } from '../../scripts/bpf-cc.ts'
import { bpfObjectBytes } from '../../src/embedded/index.ts'
import { createTopology, runIn, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from './agents.ts'
import { isolationViolations, type Sandbox } from './isolation.ts'

let topo: Topology
let agents: RunningAgent[]
let work: string
const sb: Record<string, Sandbox> = {}

/** Make every host's datapath run `object` (left in place by the swap process). */
async function swapDatapath(object: string): Promise<void> {
  for (const [h, host] of topo.hosts.entries()) {
    const r = await runIn(host.ns, [process.execPath, join(import.meta.dir, 'swap-datapath.ts'), agents[h]!.node, host.underlay.ip, object])
    if (r.code !== 0) throw new Error(`swapping the datapath of ${host.node}: ${r.stderr}`)
  }
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'weft-isolation-'))
  topo = await createTopology({ hosts: 2, containersPerHost: 2 })
  agents = await startAgents(topo, { datapath: 'bpf' })
  // blue first: VNI 256, red: 257 (the broken build looks addresses up in VNIs 256..263)
  for (const [name, subnet] of [['blue', '10.10.0.0/24'], ['red', '10.20.0.0/24']] as const) {
    const r = await agents[0]!.api('POST', '/v1/networks', { name, subnet })
    expect(r.status).toBe(201)
  }
  for (const [key, h, c, network] of [['blue0', 0, 0, 'blue'], ['blue1', 1, 0, 'blue'], ['red0', 0, 1, 'red']] as const) {
    const ns = topo.hosts[h]!.containers[c]!.ns
    const r = await agents[h]!.api('POST', `/v1/networks/${network}/connect`, { sandbox: ns })
    expect(r.status).toBe(201)
    sb[key] = { ns, ip: r.body.ip, mac: r.body.mac, ifname: r.body.ifname, network, agent: agents[h]! }
  }
}, 60_000)

afterAll(async () => {
  await topo?.destroy()
  if (work) rmSync(work, { recursive: true, force: true })
}, 60_000)

describe('the network isolation check', () => {
  test('passes on the real datapath (same host and across hosts)', async () => {
    expect(await isolationViolations(sb.red0!, sb.blue0!, { countsDrops: true })).toEqual([])
    expect(await isolationViolations(sb.red0!, sb.blue1!, { countsDrops: true })).toEqual([])
  }, 30_000)

  test('fails on a datapath that ignores the VNI', async () => {
    const broken = join(work, 'vxlan-ignore-vni.o')
    await compileBpfObject(join(BPF_ROOT, 'vxlan.bpf.c'), broken, { bpfRoot: BPF_ROOT, defines: ['WEFT_TEST_IGNORE_VNI'] })
    await swapDatapath(broken)
    try {
      // same host: switched locally into blue, and blue's answer back into red
      const local = await isolationViolations(sb.red0!, sb.blue0!, { countsDrops: true })
      expect(local.join('\n')).toMatch(/echo requests answered/)
      expect(local.join('\n')).toMatch(/unknown_dst\/foreign_net drops/)
      // across hosts: encapsulated with blue's VNI (the receiver's inner-source check then
      // drops it, so no answer comes back, but the sender no longer drops it)
      const across = await isolationViolations(sb.red0!, sb.blue1!, { countsDrops: true })
      console.log(`[isolation] what the check reports on the broken datapath:\n  ${[...local, ...across].join('\n  ')}`)
      expect(across.join('\n')).toMatch(/counted 0 unknown_dst\/foreign_net drops in red/)
    } finally {
      const real = join(work, 'vxlan.o')
      writeFileSync(real, bpfObjectBytes('vxlan'))
      await swapDatapath(real)
    }
    // and the real datapath is back in place
    expect(await isolationViolations(sb.red0!, sb.blue0!, { countsDrops: true })).toEqual([])
  }, 60_000)
})
