import { describe, expect, test } from 'bun:test'
import { clusterView, keys } from '../../src/cluster/index.ts'
import { desiredState } from '../../src/reconcile/index.ts'

const id = (c: string) => c.repeat(64)
const net = {
  id: id('a'),
  name: 'blue',
  driver: 'overlay',
  scope: 'global',
  vni: 300,
  subnet: '10.0.1.0/24',
  gateway: '10.0.1.1',
  mtu: 1450,
  labels: {},
  options: {},
  created: 'x',
}
const ep = (c: string, ip: string, node?: string, extra = {}) => ({
  id: id(c),
  networkId: id('a'),
  name: `n${c}`,
  ip,
  mac: '02:42:0a:00:01:02',
  external: false,
  created: 'x',
  ...(node ? { node, sandbox: `sb${c}`, ifname: 'eth0' } : {}),
  ...extra,
})
const node = (name: string, advertise: string) => ({
  name,
  advertise,
  datapath: 'bpf',
  version: '0',
  started: 'x',
})

function view(entries: Record<string, unknown>) {
  return clusterView(
    Object.entries(entries).map(([key, v]) => ({
      key,
      value: typeof v === 'string' ? v : JSON.stringify(v),
    })),
  )
}

describe('desiredState', () => {
  test('programs a network only where it has a local endpoint', () => {
    const v = view({
      [keys.network(net.id)]: net,
      [keys.node('h2')]: node('h2', '198.18.0.2'),
      [keys.endpoint(net.id, id('1'))]: ep('1', '10.0.1.2', 'h2'),
    })
    expect(desiredState(v, 'h1').networks.size).toBe(0)
    expect(desiredState(v, 'h2').networks.get(300)?.subnet).toBe('10.0.1.0/24')
  })

  test('remote endpoints of dead nodes are left out; external ones are kept', () => {
    const v = view({
      [keys.network(net.id)]: net,
      [keys.node('h1')]: node('h1', '198.18.0.1'),
      [keys.endpoint(net.id, id('1'))]: ep('1', '10.0.1.2', 'h1'),
      [keys.endpoint(net.id, id('2'))]: ep('2', '10.0.1.3', 'h3'), // h3 has no node key: dead
      [keys.endpoint(net.id, id('3'))]: ep('3', '10.0.1.4', undefined, {
        external: true,
        vtep: '198.18.0.9',
      }),
    })
    const d = desiredState(v, 'h1')
    expect([...d.remote.values()].map((r) => r.ip)).toEqual(['10.0.1.4'])
    expect(d.members.get(300)).toEqual(['198.18.0.9'])
    expect(d.local.size).toBe(1)
  })

  test('a record that does not parse is skipped and reported', () => {
    const v = view({
      [keys.network(net.id)]: '{not json',
      [keys.endpoint(net.id, id('1'))]: ep('1', '10.0.1.2', 'h1'),
    })
    expect(v.invalid.length).toBe(1)
    expect(desiredState(v, 'h1').local.size).toBe(0)
  })
})
