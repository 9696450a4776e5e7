// The name table and the resolver over it (pure): what a sandbox's query gets from a
// cluster view. Names of the sandbox's networks only; NXDOMAIN inside the overlay;
// forwarding for the rest; a record whose address the IPAM gave away is never answered.
import { describe, expect, test } from 'bun:test'
import { clusterView, keys } from '../../src/cluster/index.ts'
import { resolve } from '../../src/dns/answer.ts'
import { RCODE, TYPE } from '../../src/dns/codec.ts'
import { buildTable, endpointNames } from '../../src/dns/table.ts'

const id = (n: number) => n.toString(16).padStart(64, '0')
const NET_A = id(0xa)
const NET_B = id(0xb)
const network = (nid: string, name: string, subnet: string) => ({
  id: nid,
  name,
  driver: 'overlay',
  scope: 'global',
  vni: 256,
  subnet,
  gateway: subnet.replace(/0\/24$/, '1'),
  mtu: 1450,
  labels: {},
  options: {},
  created: '2026-12-01T00:00:00Z',
})
let seq = 0
const endpoint = (
  n: number,
  networkId: string,
  name: string,
  ip: string,
  node: string,
  more: Record<string, unknown> = {},
) => ({
  id: id(n),
  networkId,
  name,
  ip,
  mac: '02:42:00:00:00:00',
  node,
  sandbox: name,
  ifname: 'eth0',
  external: false,
  created: `2026-12-01T00:00:${String(seq++).padStart(2, '0')}Z`,
  ...more,
})

function view(eps: ReturnType<typeof endpoint>[], opts: { ipam?: boolean } = {}) {
  const entries = [
    { key: keys.network(NET_A), value: JSON.stringify(network(NET_A, 'front', '10.0.1.0/24')) },
    { key: keys.network(NET_B), value: JSON.stringify(network(NET_B, 'Back', '10.0.2.0/24')) },
  ]
  for (const e of eps) {
    entries.push({ key: keys.endpoint(e.networkId, e.id), value: JSON.stringify(e) })
    if (opts.ipam !== false) entries.push({ key: keys.ipam(e.networkId, e.ip), value: e.id })
  }
  return clusterView(entries)
}

const q = (name: string, type: number = TYPE.A) => ({ name, type, class: 1 })
const ips = (r: ReturnType<typeof resolve>) =>
  'forward' in r
    ? 'forward'
    : { rcode: r.rcode, data: r.answers.map((a) => ('ip' in a ? a.ip : a.name)) }

describe('name table', () => {
  const v = view([
    endpoint(1, NET_A, 'c1', '10.0.1.2', 'h1', { aliases: ['web', 'Web.Alias'] }),
    endpoint(2, NET_A, 'c2', '10.0.1.3', 'h2'),
    endpoint(3, NET_B, 'c3', '10.0.2.2', 'h2'),
    endpoint(4, NET_B, 'c2', '10.0.2.3', 'h2'), // c2 is in both networks
    endpoint(5, NET_B, 'c1', '10.0.2.4', 'h3'), // another c1 in the other network
  ])
  const t = buildTable(v, 'h2')
  const c2 = '/run/netns/c2'
  const c3 = '/run/netns/c3'

  test('local sandboxes map to their networks; others are not local', () => {
    expect(t.sandboxes.get(c2)).toEqual([NET_A, NET_B])
    expect(t.sandboxes.get(c3)).toEqual([NET_B])
    expect(t.sandboxes.has('/run/netns/c1')).toBe(false)
  })

  test('a name and its aliases resolve (an alias in any case: the codec lower-cases questions); a sandbox in two networks sees both', () => {
    expect(ips(resolve(t, c2, q('c1')))).toEqual({ rcode: 0, data: ['10.0.1.2', '10.0.2.4'] })
    expect(ips(resolve(t, c2, q('web')))).toEqual({ rcode: 0, data: ['10.0.1.2'] })
    expect(ips(resolve(t, c2, q('web.alias')))).toEqual({ rcode: 0, data: ['10.0.1.2'] })
  })

  test('names of other networks never resolve (isolation): NXDOMAIN', () => {
    expect(ips(resolve(t, c3, q('web')))).toEqual({ rcode: RCODE.NXDOMAIN, data: [] })
    expect(ips(resolve(t, c3, q('c1')))).toEqual({ rcode: 0, data: ['10.0.2.4'] })
  })

  test('NAME.NET picks one network; a network the sandbox is not in is forwarded', () => {
    expect(ips(resolve(t, c2, q('c1.front')))).toEqual({ rcode: 0, data: ['10.0.1.2'] })
    expect(ips(resolve(t, c2, q('c1.back')))).toEqual({ rcode: 0, data: ['10.0.2.4'] })
    expect(ips(resolve(t, c2, q('nope.back')))).toEqual({ rcode: RCODE.NXDOMAIN, data: [] })
    expect(ips(resolve(t, c3, q('c1.front')))).toBe('forward')
  })

  test('unknown single labels are NXDOMAIN; other names and non-IN classes are forwarded', () => {
    expect(ips(resolve(t, c2, q('nosuch')))).toEqual({ rcode: RCODE.NXDOMAIN, data: [] })
    expect(ips(resolve(t, c2, q('example.com')))).toBe('forward')
    expect(resolve(t, c2, { name: 'c1', type: TYPE.A, class: 3 })).toEqual({ forward: true })
  })

  test('a known name asked for AAAA is NODATA (NOERROR, no records), not NXDOMAIN', () => {
    expect(ips(resolve(t, c2, q('c1', TYPE.AAAA)))).toEqual({ rcode: 0, data: [] })
  })

  test('PTR inside a subnet of the sandbox answers NAME.NET, or NXDOMAIN; outside it is forwarded', () => {
    expect(ips(resolve(t, c2, q('2.1.0.10.in-addr.arpa', TYPE.PTR)))).toEqual({
      rcode: 0,
      data: ['c1.front'],
    })
    expect(ips(resolve(t, c2, q('99.1.0.10.in-addr.arpa', TYPE.PTR)))).toEqual({
      rcode: RCODE.NXDOMAIN,
      data: [],
    })
    expect(ips(resolve(t, c3, q('2.1.0.10.in-addr.arpa', TYPE.PTR)))).toBe('forward')
    expect(ips(resolve(t, c2, q('1.1.168.192.in-addr.arpa', TYPE.PTR)))).toBe('forward')
  })

  test('a sandbox this node does not serve gets everything forwarded', () => {
    expect(resolve(t, '/run/netns/other', q('c1'))).toEqual({ forward: true })
  })

  test('names need no address keys: a scoped mirror holds endpoints but not their IPAM keys', () => {
    const scoped = view(
      [endpoint(1, NET_A, 'c1', '10.0.1.2', 'h1'), endpoint(2, NET_A, 'c2', '10.0.1.3', 'h2')],
      { ipam: false },
    )
    const st = buildTable(scoped, 'h2')
    expect(ips(resolve(st, c2, q('c1')))).toEqual({ rcode: RCODE.NOERROR, data: ['10.0.1.2'] })
    expect([...st.sandboxes.keys()]).toEqual([c2])
  })

  test('a network record with an unreadable subnet is skipped, the others still answer', () => {
    const broken = clusterView([
      { key: keys.network(NET_A), value: JSON.stringify(network(NET_A, 'front', '10.0.1.0/24')) },
      {
        key: keys.network(NET_B),
        value: JSON.stringify({ ...network(NET_B, 'back', '10.0.2.0/24'), subnet: 'not-a-cidr' }),
      },
      ...[
        endpoint(1, NET_A, 'c1', '10.0.1.2', 'h1'),
        endpoint(2, NET_A, 'c2', '10.0.1.3', 'h2'),
        endpoint(3, NET_B, 'c2', '10.0.2.3', 'h2'),
      ].flatMap((e) => [
        { key: keys.endpoint(e.networkId, e.id), value: JSON.stringify(e) },
        { key: keys.ipam(e.networkId, e.ip), value: e.id },
      ]),
    ])
    const bt = buildTable(broken, 'h2')
    expect(ips(resolve(bt, c2, q('c1')))).toEqual({ rcode: 0, data: ['10.0.1.2'] })
  })

  test('path and PID sandboxes without --name have no name; digits-only names are not names', () => {
    const e = endpoint(7, NET_A, '/proc/123/ns/net', '10.0.1.9', 'h1')
    expect(endpointNames(e)).toEqual([])
    expect(endpointNames({ ...e, name: '123', aliases: ['db', 'DB', '42'] })).toEqual(['db'])
  })
})
