// Endpoint plumbing against the real kernel: a driver process (kind "none") inside a host
// namespace calls plumbEndpoint/unplumbEndpoint; the test only reads state via nsenter. The
// endpoint path is rtnetlink only: a child with process spawning disabled runs all of it.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import {
  createTopology,
  mustRunIn,
  nsPath,
  runIn,
  spawnIn,
  waitFor,
  type Topology,
} from '../harness/index.ts'
import { startDriver, type DriverCallError, type DriverHandle } from '../datapath/driver-client.ts'
import type { PlumbedEndpoint, PlumbSpec } from '../../src/net/index.ts'

interface Link {
  ifname: string
  ifindex: number
  mtu: number
  address: string
  flags: string[]
  link_index?: number
  addr_info?: { family: string; local: string; prefixlen: number }[]
}

async function links(ns: string): Promise<Link[]> {
  return JSON.parse((await mustRunIn(ns, ['ip', '-j', 'addr', 'show'])).stdout) as Link[]
}
/** The error a call rejects with (fails the test if it resolves). */
async function fails(p: Promise<unknown>): Promise<DriverCallError> {
  return p.then(
    (v) => {
      throw new Error(`expected a failure, got ${JSON.stringify(v)}`)
    },
    (e: DriverCallError) => e,
  )
}
const wfLinks = async (ns: string) =>
  (await links(ns)).map((l) => l.ifname).filter((n) => n.startsWith('wf'))

describe('plumbEndpoint / unplumbEndpoint (real namespaces)', () => {
  let topo: Topology
  let drv: DriverHandle
  let host: string
  let c1: string

  const spec = (over: Partial<PlumbSpec> = {}): PlumbSpec => ({
    sandbox: c1,
    ifname: 'eth0',
    hostIfname: 'wfa000000001',
    mac: '02:42:0a:00:01:02',
    ip: '10.0.1.2',
    prefixLen: 24,
    mtu: 1450,
    ...over,
  })

  beforeAll(async () => {
    topo = await createTopology({ hosts: 1, containersPerHost: 3 })
    host = topo.hosts[0]!.ns
    c1 = topo.hosts[0]!.containers[0]!.ns
    drv = startDriver(host, 'none')
    topo.track(() => drv.stop())
  })
  afterAll(async () => {
    await topo.destroy()
  })

  test('creates the pair: ethN in the sandbox with MAC, address/prefix, MTU, up; only the connected route', async () => {
    const r = await drv.call<PlumbedEndpoint>('net.plumbEndpoint', [spec({ hostMtu: 1500 })])
    expect(r.adopted).toBe(false)
    const eth0 = (await links(c1)).find((l) => l.ifname === 'eth0')!
    expect(eth0.address).toBe('02:42:0a:00:01:02')
    expect(eth0.mtu).toBe(1450)
    expect(eth0.flags).toContain('UP')
    expect(eth0.ifindex).toBe(r.peerIfindex)
    expect(eth0.link_index).toBe(r.hostIfindex)
    expect(eth0.addr_info).toEqual([
      expect.objectContaining({ family: 'inet', local: '10.0.1.2', prefixlen: 24 }),
    ])
    const routes = JSON.parse(
      (await mustRunIn(c1, ['ip', '-j', '-4', 'route', 'show', 'table', 'all', 'type', 'unicast']))
        .stdout,
    )
    expect(routes.map((x: { dst: string; dev: string }) => `${x.dst} ${x.dev}`)).toEqual([
      '10.0.1.0/24 eth0',
    ])
    const hostEnd = (await links(host)).find((l) => l.ifname === 'wfa000000001')!
    expect(hostEnd.ifindex).toBe(r.hostIfindex)
    expect(hostEnd.mtu).toBe(1500)
    expect(hostEnd.flags).toContain('UP')
    expect(hostEnd.addr_info ?? []).toEqual([]) // no IPv6 link-local on the host end either
  })

  test('no IPv6 link-local on either end once the link is ready (carrier on both ends)', async () => {
    // addrconf generates a link-local when a link becomes ready, which for the host end is when
    // the sandbox end comes up (the host end goes up with alias and addrgenmode in one request)
    const ready = async () => {
      const h = (await links(host)).find((l) => l.ifname === 'wfa000000001')
      const e = (await links(c1)).find((l) => l.ifname === 'eth0')
      return !!h?.flags.includes('LOWER_UP') && !!e?.flags.includes('LOWER_UP')
    }
    await waitFor(ready, { what: 'carrier on both ends of wfa000000001' })
    const inet6 = async (ns: string, name: string) =>
      JSON.parse((await mustRunIn(ns, ['ip', '-j', '-6', 'addr', 'show', 'dev', name])).stdout)
        .flatMap((l: Link) => l.addr_info ?? [])
        .map((a: { local: string }) => a.local)
    expect(await inet6(host, 'wfa000000001')).toEqual([])
    expect(await inet6(c1, 'eth0')).toEqual([])
    const mode = (await mustRunIn(host, ['ip', '-d', 'link', 'show', 'wfa000000001'])).stdout
    expect(mode).toContain('addrgenmode none')
  })

  test('calling again adopts the existing pair (same ifindex) and re-applies drifted settings', async () => {
    const before = (await links(host)).find((l) => l.ifname === 'wfa000000001')!
    await mustRunIn(c1, ['ip', 'link', 'set', 'eth0', 'mtu', '1300'])
    await mustRunIn(c1, ['ip', 'addr', 'add', '10.0.9.9/24', 'dev', 'eth0'])
    const r = await drv.call<PlumbedEndpoint>('net.plumbEndpoint', [spec({ hostMtu: 1500 })])
    expect(r.adopted).toBe(true)
    expect(r.hostIfindex).toBe(before.ifindex)
    const eth0 = (await links(c1)).find((l) => l.ifname === 'eth0')!
    expect(eth0.mtu).toBe(1450)
    expect(eth0.addr_info!.map((a) => `${a.local}/${a.prefixlen}`)).toEqual(['10.0.1.2/24'])
  })

  test('a sandbox given as /proc/PID/ns/net works', async () => {
    const c2 = topo.hosts[0]!.containers[1]!.ns
    const holder = spawnIn(c2, ['sleep', '300'])
    try {
      const path = `/proc/${holder.pid}/ns/net`
      // nsenter enters c2 just after it starts: until then the PID's netns is the test's own
      await waitFor(() => statSync(path).ino === statSync(nsPath(c2)).ino, {
        what: 'holder inside the sandbox',
      })
      const r = await drv.call<PlumbedEndpoint>('net.plumbEndpoint', [
        spec({
          sandbox: path,
          hostIfname: 'wfa000000002',
          ip: '10.0.1.3',
          mac: '02:42:0a:00:01:03',
        }),
      ])
      expect(r.sandboxPath).toBe(path)
      expect((await links(c2)).find((l) => l.ifname === 'eth0')?.addr_info?.[0]?.local).toBe(
        '10.0.1.3',
      )
      const ping = await runIn(c1, ['ping', '-n', '-c', '1', '-W', '2', '10.0.1.3'])
      // The two host ends are not connected to each other: no forwarding without a datapath.
      expect(ping.code).not.toBe(0)
    } finally {
      await holder.stop()
    }
  })

  test('a host veth whose peer is in another sandbox (container restarted) is replaced', async () => {
    const [, c2, c3] = topo.hosts[0]!.containers.map((c) => c.ns)
    const r = await drv.call<PlumbedEndpoint>('net.plumbEndpoint', [
      spec({ sandbox: c3!, hostIfname: 'wfa000000002', ip: '10.0.1.3', mac: '02:42:0a:00:01:03' }),
    ])
    expect(r.adopted).toBe(false)
    expect((await links(c2!)).map((l) => l.ifname)).toEqual(['lo'])
    expect((await links(c3!)).find((l) => l.ifname === 'eth0')?.link_index).toBe(r.hostIfindex)
    expect(await drv.call('net.unplumbEndpoint', ['wfa000000002'])).toBe(true)
  })

  test('a missing sandbox fails with a hint and changes nothing', async () => {
    const before = await wfLinks(host)
    const err = await fails(
      drv.call('net.plumbEndpoint', [
        spec({ sandbox: '/proc/999999999/ns/net', hostIfname: 'wfa000000009' }),
      ]),
    )
    expect(err).toMatchObject({ code: 'sandbox_not_found', name: 'NotFoundError' })
    expect(err.message).toContain(
      'sandbox /proc/999999999/ns/net not found: is the container running?',
    )
    expect(await wfLinks(host)).toEqual(before)
  })

  test('an ifname already taken in the sandbox is a conflict, and nothing is made', async () => {
    const c3 = topo.hosts[0]!.containers[2]!.ns
    await mustRunIn(c3, ['ip', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'x0'])
    const before = await wfLinks(host)
    const err = await fails(
      drv.call('net.plumbEndpoint', [spec({ sandbox: c3, hostIfname: 'wfa000000003' })]),
    )
    expect(err).toMatchObject({ code: 'ifname_taken', name: 'ConflictError' })
    expect(err.message).toContain('eth0 already exists in sandbox')
    expect(await wfLinks(host)).toEqual(before)
    await mustRunIn(c3, ['ip', 'link', 'del', 'eth0'])
  })

  test('a failure half-way (bridge to enslave to does not exist) is undone on both sides', async () => {
    const c3 = topo.hosts[0]!.containers[2]!.ns
    const before = await wfLinks(host)
    const err = await fails(
      drv.call('net.plumbEndpoint', [
        spec({ sandbox: c3, hostIfname: 'wfa000000004', master: 'wfbr999' }),
      ]),
    )
    expect(err.message).toContain('wfbr999')
    expect(await wfLinks(host)).toEqual(before)
    expect((await links(c3)).map((l) => l.ifname)).toEqual(['lo'])
  })

  test('bad input is rejected before anything runs', async () => {
    const err = await fails(drv.call('net.plumbEndpoint', [spec({ hostIfname: 'eth7' })]))
    expect(err).toMatchObject({ name: 'ValidationError' })
  })

  test('unplumb removes both ends; a second unplumb reports it was already gone', async () => {
    expect(await drv.call('net.unplumbEndpoint', ['wfa000000001'])).toBe(true)
    expect(await wfLinks(host)).toEqual([])
    expect((await links(c1)).map((l) => l.ifname)).toEqual(['lo'])
    expect(await drv.call('net.unplumbEndpoint', ['wfa000000001'])).toBe(false)
  })

  test('finds the underlay NIC from the advertise address', async () => {
    const h = topo.hosts[0]!
    expect(await drv.call('net.findUnderlay', [h.underlay.ip])).toMatchObject({
      ifname: 'ul0',
      ifindex: h.underlay.ifindex,
      mtu: h.underlay.mtu,
      ip: h.underlay.ip,
      prefixLen: 24,
    })
    const err = await fails(drv.call('net.findUnderlay', ['198.18.0.200']))
    expect(err).toMatchObject({ code: 'underlay_not_found' })
  })

  test('the whole endpoint path starts no process (create, adopt, replace, underlay, address by name, delete)', async () => {
    const [, c2, c3] = topo.hosts[0]!.containers.map((c) => c.ns)
    const r = await runIn(host, [
      process.execPath,
      join(import.meta.dir, 'children', 'plumb-without-processes.ts'),
      nsPath(c2!),
      nsPath(c3!),
      topo.hosts[0]!.underlay.ip,
    ])
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({
      created: false,
      adopted: true,
      sameIfindex: true,
      moved: false,
      underlay: 'ul0',
      byName: [topo.hosts[0]!.underlay.ip, null],
      deleted: true,
      again: false,
    })
    expect(await wfLinks(host)).toEqual([])
    expect((await links(c2!)).map((l) => l.ifname)).toEqual(['lo'])
    expect((await links(c3!)).map((l) => l.ifname)).toEqual(['lo'])
  })

  test('100 endpoints are plumbed in seconds', async () => {
    const sandboxes: string[] = []
    for (let i = 0; i < 100; i++) sandboxes.push((await topo.addContainer(0)).ns)
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: 4 }, async (_, worker) => {
        for (let i = worker; i < 100; i += 4) {
          await drv.call('net.plumbEndpoint', [
            spec({
              sandbox: sandboxes[i]!,
              hostIfname: `wfb${String(i).padStart(9, '0')}`,
              ip: `10.0.2.${i + 2}`,
              mac: `02:42:0a:00:02:${(i + 2).toString(16).padStart(2, '0')}`,
            }),
          ])
        }
      }),
    )
    const ms = performance.now() - t0
    console.log(`plumbed 100 endpoints in ${ms.toFixed(0)} ms (4 in flight)`)
    expect(ms).toBeLessThan(10_000)
    expect((await wfLinks(host)).filter((n) => n.startsWith('wfb'))).toHaveLength(100)
    const t1 = performance.now()
    await drv
      .call('net.unplumbEndpoints', [
        Array.from({ length: 100 }, (_, i) => `wfb${String(i).padStart(9, '0')}`),
      ])
      .catch(async () => {
        for (let i = 0; i < 100; i++)
          await drv.call('net.unplumbEndpoint', [`wfb${String(i).padStart(9, '0')}`])
      })
    console.log(`removed 100 endpoints in ${(performance.now() - t1).toFixed(0)} ms`)
    expect((await wfLinks(host)).filter((n) => n.startsWith('wfb'))).toHaveLength(0)
  }, 60_000)
})
