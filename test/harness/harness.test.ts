// The harness builds real topologies, proves underlay reachability, and leaves nothing.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  createTopology,
  leaks,
  mustRunIn,
  ping,
  run,
  runIn,
  spawnIn,
  tcpTransfer,
  waitFor,
  type Topology,
} from './index.ts'

describe('createTopology with 3 hosts and 3 containers', () => {
  let topo: Topology

  beforeAll(async () => {
    topo = await createTopology({ hosts: 3, containersPerHost: 1 })
  })

  afterAll(async () => {
    const prefix = topo.prefix
    await topo.destroy()
    expect(await leaks(prefix)).toEqual([])
  })

  test('every host reaches every other host over the underlay', async () => {
    for (const from of topo.hosts) {
      for (const to of topo.hosts) {
        if (from === to) continue
        const r = await ping(from.ns, to.underlay.ip, { count: 2, intervalS: 0.05 })
        expect(r.received).toBe(2)
      }
    }
  })

  test('containers are empty namespaces with only loopback', async () => {
    expect(topo.hosts.map((h) => h.containers.length)).toEqual([1, 1, 1])
    const links = JSON.parse(
      (await mustRunIn(topo.hosts[0]!.containers[0]!.ns, ['ip', '-j', 'link'])).stdout,
    )
    expect(links.map((l: { ifname: string }) => l.ifname)).toEqual(['lo'])
  })

  test('nothing was added to the root namespace', async () => {
    const root = await run(['ip', '-j', 'link'])
    const names = JSON.parse(root.stdout).map((l: { ifname: string }) => l.ifname)
    expect(
      names.filter((n: string) => n.startsWith(topo.prefix) || n === 'ul0' || n === 'br0'),
    ).toEqual([])
  })

  test('a TCP transfer between hosts arrives intact', async () => {
    const [a, b] = [topo.hosts[0]!, topo.hosts[1]!]
    const r = await tcpTransfer(a.ns, b.ns, b.underlay.ip, { bytes: 5_000_000 })
    expect(r.ok).toBe(true)
    expect(r.bytesReceived).toBe(5_000_000)
  })

  test('spawnIn runs inside the namespace and stops by PID', async () => {
    const p = spawnIn(topo.hosts[1]!.ns, ['ip', 'monitor', 'link'])
    await waitFor(async () => (await runIn(topo.hosts[1]!.ns, ['true'])).code === 0, {
      what: 'ns ready',
    })
    await p.stop()
    expect(await p.exited).not.toBe(0)
  })
})

describe('teardown after a failing test', () => {
  test('removes everything even though the fixture test failed', async () => {
    const fixture = join(import.meta.dir, 'fixtures', 'failing-case.fixture.ts')
    const r = await run([process.execPath, 'test', fixture])
    const out = r.stdout + r.stderr
    expect(r.code).not.toBe(0)
    expect(out).toContain('deliberately wrong')
    const prefix = out.match(/FIXTURE_PREFIX=(\w+)/)?.[1]
    expect(prefix).toBeDefined()
    expect(await leaks(prefix!)).toEqual([])
  }, 60_000)
})
