// Docker's daemon spellings on real agents (issue 11.6): a second host started with
// `--cluster-store=consul://H:8500 --cluster-advertise=IP:2376` joins the first host's store
// (not a silently split cluster of its own) with the address part as its VTEP, and logs that
// the port is not used. The first host's join token goes in $WEFT_JOIN_TOKEN (secure by default). Real agents in the harness's host namespaces. Datapath: WEFT_TEST_DATAPATH.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  createTopology,
  requireRoot,
  spawnIn,
  waitFor,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'
import { startAgents, WEFT, type RunningAgent } from '../agent/agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'

describe(`Docker daemon flags on a second host (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let first: RunningAgent
  let second: NsProcess

  beforeAll(async () => {
    requireRoot()
    topo = await createTopology({ hosts: 2, containersPerHost: 0 })
    // the store host, the usual way; host 2 is started below with Docker's spellings
    first = (await startAgents({ ...topo, hosts: [topo.hosts[0]!] }, { datapath: DATAPATH }))[0]!
    const h2 = topo.hosts[1]!
    const dir = join(first.dataDir, '..')
    second = spawnIn(h2.ns, [
      WEFT,
      'agent',
      '--name',
      h2.node,
      `--cluster-store=consul://${topo.hosts[0]!.underlay.ip}:8500`,
      `--cluster-advertise=${h2.underlay.ip}:2376`,
      '--data',
      join(dir, h2.node),
      '--api',
      `unix://${join(dir, `${h2.node}.sock`)}`,
      '--datapath',
      DATAPATH,
      '--ttl',
      '2s',
      '--log-level',
      'warn',
    ], { env: { WEFT_JOIN_TOKEN: readFileSync(join(first.dataDir, 'join-token'), 'utf8').trim() } })
    topo.track(() => second.stop(3000))
  }, 60_000)

  afterAll(async () => {
    await topo?.destroy()
  }, 60_000)

  test("the second host joins the first host's store, with the address part as its VTEP", async () => {
    const h2 = topo.hosts[1]!
    await waitFor(
      async () => {
        const r = await first.api('GET', '/v1/nodes')
        return (
          r.status === 200 &&
          r.body.some((n: { name: string; alive: boolean }) => n.name === h2.node && n.alive)
        )
      },
      {
        what: `${h2.node} registered in ${topo.hosts[0]!.node}'s store (stderr: ${second.stderr().slice(-500)})`,
        timeoutMs: 20_000,
      },
    )
    const nodes = (await first.api('GET', '/v1/nodes')).body as {
      name: string
      advertise?: string
    }[]
    expect(nodes.find((n) => n.name === h2.node)?.advertise).toBe(h2.underlay.ip)
  }, 30_000)

  test('it logs one warning that the port is not used', () => {
    const warnings = second
      .stderr()
      .split('\n')
      .filter((l) => l.includes('is not used'))
      .map((l) => JSON.parse(l) as { level: number; msg: string })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]!.level).toBe(40) // pino's warn
    expect(warnings[0]!.msg).toStartWith(
      `--cluster-advertise ${topo.hosts[1]!.underlay.ip}:2376: using the address part "${topo.hosts[1]!.underlay.ip}"; the port 2376 is not used`,
    )
  })
})
