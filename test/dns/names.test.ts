// Names end to end: three real agents (dist/weft) in host namespaces, `ip netns` sandboxes,
// queries sent from inside the sandboxes to 127.0.0.11 (as a program there would), and a
// dnsmasq on the underlay as the hosts' resolver. Every packet stays in the test's namespaces.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { TYPE } from '../../src/dns/index.ts'
import { hostIfnameFor } from '../../src/net/index.ts'
import { createTopology, nsId, run, runIn, waitFor, type Topology } from '../harness/index.ts'
import { weft } from '../cli/weft.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'
import { dnsClientIn, tcpQueryIn, type DnsClient } from './client.ts'
import { disconnectAll, ETC_NETNS, etcNetnsLeftovers } from './cleanup.ts'
import { startUpstream, type Upstream } from './upstream.ts'

describe('names on 3 hosts', () => {
  let topo: Topology
  let agents: RunningAgent[]
  let upstream: Upstream
  const clients = new Map<string, DnsClient>()
  const ips = new Map<string, string>() // "<sandbox>/<network>" -> address

  beforeAll(async () => {
    topo = await createTopology({ hosts: 3, containersPerHost: 2 })
    upstream = await startUpstream(topo, { 'ext.example.test': '192.0.2.7' })
    agents = await startAgents(topo, { extraArgs: ['--resolv-conf', upstream.resolvConf] })
    for (const [name, subnet] of [
      ['front', '10.40.1.0/24'],
      ['back', '10.40.2.0/24'],
    ]) {
      const r = await agents[0]!.api('POST', '/v1/networks', { name, subnet })
      expect(r.status).toBe(201)
    }
  }, 60_000)

  afterAll(async () => {
    for (const c of clients.values()) c.close()
    await disconnectAll(agents)
    const left = etcNetnsLeftovers(topo.prefix)
    await topo.destroy()
    expect(left).toEqual([]) // every resolv.conf weft wrote went with its sandbox's last disconnect
  }, 120_000) // disconnects and teardown of a whole topology: slow on a loaded machine

  const sb = (host: number, n = 0) => topo.hosts[host]!.containers[n]!.ns
  const client = async (ns: string) => {
    let c = clients.get(ns)
    if (!c) clients.set(ns, (c = await dnsClientIn(`/run/netns/${ns}`)))
    return c
  }
  const connect = async (
    host: number,
    ns: string,
    network: string,
    more: Record<string, unknown> = {},
  ) => {
    const r = await agents[host]!.api('POST', `/v1/networks/${network}/connect`, {
      sandbox: ns,
      ...more,
    })
    expect(r.status).toBe(201)
    ips.set(`${ns}/${network}`, r.body.ip)
    return r.body as { id: string; ip: string }
  }
  const disconnect = async (host: number, ns: string, network: string) => {
    const r = await agents[host]!.api('POST', `/v1/networks/${network}/disconnect`, {
      endpoint: ns,
    })
    expect(r.status).toBe(200)
  }
  const ip = (ns: string, network: string) => ips.get(`${ns}/${network}`)!
  const ask = async (from: string, name: string, type: number = TYPE.A) =>
    (await client(from)).query(name, type)
  /** Another host's answer, which may take up to a second (the contract) to follow a change. */
  const askSoon = async (from: string, name: string, want: string[]) => {
    await waitFor(
      async () =>
        JSON.stringify((await ask(from, name)).data.sort()) === JSON.stringify([...want].sort()),
      {
        what: `${name} -> ${want.join(',')} from ${from}`,
        timeoutMs: 1000,
        intervalMs: 5,
      },
    )
    return ask(from, name)
  }

  test('names and aliases resolve on every host to the overlay address, with a TTL of at most 2 s', async () => {
    await connect(0, sb(0), 'front', { aliases: ['web', 'WWW'] })
    await connect(1, sb(1), 'front')
    await connect(2, sb(2), 'front')
    const front = (ns: string) => ip(ns, 'front')
    for (const [from, name, want] of [
      [sb(1), sb(0), front(sb(0))],
      [sb(1), 'web', front(sb(0))],
      [sb(2), 'www', front(sb(0))],
      [sb(2), `${sb(1)}.front`, front(sb(1))],
      [sb(0), sb(2), front(sb(2))],
      [sb(1), sb(1), front(sb(1))],
    ] as const) {
      const r = await askSoon(from, name, [want])
      expect({ from, name, rcode: r.rcode, data: r.data }).toEqual({
        from,
        name,
        rcode: 'NOERROR',
        data: [want],
      })
      expect(Math.max(...r.ttls)).toBeLessThanOrEqual(2)
    }
    // the reverse: PTR of an overlay address is NAME.NETWORK
    const [a, b, c, d] = front(sb(0)).split('.')
    expect((await ask(sb(1), `${d}.${c}.${b}.${a}.in-addr.arpa`, TYPE.PTR)).data).toEqual([
      `${sb(0)}.front`,
    ])
    // a known name has no AAAA: NODATA, so resolvers do not give up on its A record
    expect(await ask(sb(1), sb(0), TYPE.AAAA)).toMatchObject({ rcode: 'NOERROR', data: [] })
    // and over TCP
    expect((await tcpQueryIn(`/run/netns/${sb(1)}`, 'web')).answers.map((x) => x.data)).toEqual([
      front(sb(0)),
    ])
  }, 30_000)

  test('`ip netns exec SANDBOX ping NAME` works with no setup in the sandbox', async () => {
    const file = `${ETC_NETNS}/${sb(1)}/resolv.conf`
    expect(readFileSync(file, 'utf8')).toMatch(
      /^# written by weft[\s\S]*\nnameserver 127\.0\.0\.11\n/,
    )
    const getent = await run(['ip', 'netns', 'exec', sb(1), 'getent', 'hosts', 'web'])
    expect(getent.stdout.trim().split(/\s+/)[0]).toBe(ip(sb(0), 'front'))
    await askSoon(sb(1), sb(2), [ip(sb(2), 'front')]) // its connect returned on another host just now
    const p = await run(['ip', 'netns', 'exec', sb(1), 'ping', '-c', '1', '-W', '2', sb(2)])
    expect({ code: p.code, out: p.stdout.split('\n')[0], err: p.stderr.trim() }).toEqual({
      err: '',
      code: 0,
      out: expect.stringContaining(`(${ip(sb(2), 'front')})`),
    })
  }, 30_000)

  test('names of another network never resolve (isolation); unknown overlay names are NXDOMAIN', async () => {
    await connect(1, sb(1, 1), 'back')
    for (const name of [sb(0), 'web', sb(2)])
      expect(await ask(sb(1, 1), name)).toMatchObject({ rcode: 'NXDOMAIN', data: [] })
    expect(await ask(sb(1), sb(1, 1))).toMatchObject({ rcode: 'NXDOMAIN', data: [] })
    expect(await ask(sb(1), 'nosuchname')).toMatchObject({ rcode: 'NXDOMAIN' })
    expect(await ask(sb(1), 'nosuchname.front')).toMatchObject({ rcode: 'NXDOMAIN' })
    // a PTR for an address of a network the sandbox is not in is not ours to answer: forwarded (dnsmasq refuses)
    const [a, b, c, d] = ip(sb(1, 1), 'back').split('.')
    expect((await ask(sb(1), `${d}.${c}.${b}.${a}.in-addr.arpa`, TYPE.PTR)).data).toEqual([])
  }, 30_000)

  test('a sandbox in two networks resolves the names of both, each network its own address', async () => {
    await connect(2, sb(2), 'back')
    // sb(1,1) joined back on another host just before: its record may be a watch round away (≤ 1 s)
    expect(await askSoon(sb(2), sb(1, 1), [ip(sb(1, 1), 'back')])).toMatchObject({
      rcode: 'NOERROR',
      data: [ip(sb(1, 1), 'back')],
    })
    expect((await ask(sb(2), 'web')).data).toEqual([ip(sb(0), 'front')])
    expect((await ask(sb(2), `${sb(2)}.back`)).data).toEqual([ip(sb(2), 'back')])
    // its name answers with both addresses to a sandbox in both, and the back one only to back
    expect((await askSoon(sb(1, 1), sb(2), [ip(sb(2), 'back')])).data).toEqual([ip(sb(2), 'back')])
    expect((await ask(sb(2), sb(2))).data.sort()).toEqual(
      [ip(sb(2), 'front'), ip(sb(2), 'back')].sort(),
    )
  }, 30_000)

  test('connect → resolvable and disconnect → NXDOMAIN within 1 s on the other hosts', async () => {
    const c2 = sb(0, 1)
    const connectMs: number[] = []
    const goneMs: number[] = []
    for (let i = 0; i < 5; i++) {
      const { ip } = await connect(0, c2, 'front', { aliases: ['blink'] })
      let t0 = performance.now()
      for (const from of [sb(1), sb(2)]) {
        await waitFor(async () => (await ask(from, 'blink')).data[0] === ip, {
          what: `blink on ${from}`,
          timeoutMs: 1000,
          intervalMs: 5,
        })
        connectMs.push(performance.now() - t0)
      }
      await disconnect(0, c2, 'front')
      t0 = performance.now()
      for (const from of [sb(1), sb(2)]) {
        await waitFor(async () => (await ask(from, 'blink')).rcode === 'NXDOMAIN', {
          what: `blink gone on ${from}`,
          timeoutMs: 1000,
          intervalMs: 5,
        })
        goneMs.push(performance.now() - t0)
      }
      // on its own host the disconnect returned after the view dropped it: gone at once
      expect((await ask(sb(0), 'blink')).rcode).toBe('NXDOMAIN')
    }
    console.log(
      `connect→resolvable max ${Math.max(...connectMs).toFixed(0)} ms, disconnect→NXDOMAIN max ${Math.max(...goneMs).toFixed(0)} ms`,
    )
  }, 60_000)

  test("other names are forwarded to the host's resolver (UDP and TCP); overlay names never reach it", async () => {
    expect(await ask(sb(1), 'ext.example.test')).toMatchObject({
      rcode: 'NOERROR',
      data: ['192.0.2.7'],
    })
    expect(
      (await tcpQueryIn(`/run/netns/${sb(2)}`, 'ext.example.test')).answers.map((a) => a.data),
    ).toEqual(['192.0.2.7'])
    expect((await ask(sb(1), 'other.example.test')).rcode).toBe('REFUSED') // dnsmasq's own answer, passed through
    const getent = await run(['ip', 'netns', 'exec', sb(1), 'getent', 'hosts', 'ext.example.test'])
    expect(getent.stdout.trim().split(/\s+/)[0]).toBe('192.0.2.7')
    const asked = new Set(upstream.asked())
    expect(asked.has('ext.example.test')).toBe(true)
    const overlay = [
      sb(0),
      sb(1),
      sb(2),
      'web',
      'www',
      'blink',
      'nosuchname',
      'nosuchname.front',
      `${sb(1)}.front`,
    ]
    expect(overlay.filter((n) => asked.has(n))).toEqual([])
  }, 30_000)

  test("a user's own /etc/netns resolv.conf is left alone; ours goes with the last disconnect", async () => {
    const mine = sb(1, 1)
    const theirs = `${ETC_NETNS}/${sb(0, 1)}/resolv.conf`
    mkdirSync(`${ETC_NETNS}/${sb(0, 1)}`, { recursive: true })
    writeFileSync(theirs, "nameserver 127.0.0.11\n# the user's\n")
    try {
      await connect(0, sb(0, 1), 'back')
      expect((await ask(sb(0, 1), sb(2))).data).toEqual([ip(sb(2), 'back')])
      await disconnect(0, sb(0, 1), 'back')
      expect(readFileSync(theirs, 'utf8')).toBe("nameserver 127.0.0.11\n# the user's\n")
    } finally {
      rmSync(`${ETC_NETNS}/${sb(0, 1)}`, { recursive: true, force: true })
    }
    expect(existsSync(`${ETC_NETNS}/${mine}/resolv.conf`)).toBe(true)
    await disconnect(1, mine, 'back')
    expect(existsSync(`${ETC_NETNS}/${mine}`)).toBe(false)
    // and its resolver address is gone with it: nothing answers there any more
    expect((await ask(mine, sb(2))).rcode).toBe('timeout')
  }, 30_000)

  test('a PID sandbox connected with `weft network connect --name N --alias A --alias B` resolves by those', async () => {
    const proc = Bun.spawn(['unshare', '--net', 'sleep', '120'], {
      stdout: 'ignore',
      stderr: 'pipe',
    })
    try {
      const sandbox = `/proc/${proc.pid}/ns/net`
      await waitFor(() => nsId(proc.pid, 'net') !== nsId('self', 'net'), {
        what: 'the unshared netns',
        timeoutMs: 3000,
      })
      const r = await weft([
        '--host',
        `unix://${agents[2]!.socket}`,
        'network',
        'connect',
        '--name',
        'pidbox',
        '--alias',
        'pa',
        '--alias',
        'pb',
        'front',
        sandbox,
      ])
      expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' })
      const addr = r.stdout.split(' ')[1]!
      for (const name of ['pidbox', 'pa', 'pb'])
        expect((await askSoon(sb(1), name, [addr])).data).toEqual([addr])
      // it asks from its own namespace too (no /etc/netns for a PID sandbox: a program there points at 127.0.0.11 itself)
      const own = await dnsClientIn(sandbox)
      try {
        expect((await own.query('web')).data).toEqual([ip(sb(0), 'front')])
      } finally {
        own.close()
      }
      const d = await weft([
        '--host',
        `unix://${agents[2]!.socket}`,
        'network',
        'disconnect',
        'front',
        sandbox,
      ])
      expect(d.code).toBe(0)
      expect((await ask(sb(2), 'pidbox')).rcode).toBe('NXDOMAIN')
    } finally {
      proc.kill('SIGKILL')
      await proc.exited
    }
  }, 30_000)

  test('bad names and aliases are refused with 400 and change nothing', async () => {
    for (const body of [
      { aliases: ['bad name'] },
      { aliases: ['123'] },
      { name: 'a/b' },
      { aliases: 'web' },
      { aliases: Array(33).fill('x') },
    ]) {
      const r = await agents[1]!.api('POST', '/v1/networks/front/connect', {
        sandbox: sb(1, 1),
        ...body,
      })
      expect({ body, status: r.status }).toEqual({ body, status: 400 })
    }
    const eps = await agents[1]!.api('GET', '/v1/endpoints')
    expect(eps.body.filter((e: { name: string }) => e.name === sb(1, 1))).toEqual([])
  }, 30_000)

  test('a deleted sandbox is not held alive by its resolver: the kernel frees its netns and veth', async () => {
    const ns = `${topo.prefix}-gone`
    expect((await run(['ip', 'netns', 'add', ns])).code).toBe(0)
    let deleted = false
    try {
      const ep = await connect(0, ns, 'front', { name: 'ghost' })
      expect((await askSoon(sb(1), 'ghost', [ep.ip])).data).toEqual([ep.ip])
      const veth = hostIfnameFor(ep.id)
      expect((await runIn(topo.hosts[0]!.ns, ['ip', 'link', 'show', veth])).code).toBe(0)
      expect((await run(['ip', 'netns', 'del', ns])).code).toBe(0)
      deleted = true
      // the veth dies with the netns, which dies only when nothing holds it (our sockets did)
      await waitFor(
        async () => (await runIn(topo.hosts[0]!.ns, ['ip', 'link', 'show', veth])).code !== 0,
        {
          what: `host veth ${veth} to go with the deleted netns`,
          timeoutMs: 5000,
        },
      )
    } finally {
      if (!deleted) await run(['ip', 'netns', 'del', ns])
      // release the record (the agent does not yet release endpoints of vanished sandboxes itself)
      await agents[0]!.api('POST', '/v1/networks/front/disconnect', { endpoint: ns })
    }
  }, 30_000)
})
