import { describe, expect, test } from 'bun:test'
import { keys } from '../../src/cluster/index.ts'
import { clusterView, viewApply } from '../../src/cluster/view.ts'
import { clusterSubnets } from '../../src/reconcile/subnets.ts'

const net = (c: string, vni: number, subnet: string, internal = false) => ({
  id: c.repeat(64),
  name: `net-${c}`,
  driver: 'overlay',
  scope: 'global',
  vni,
  subnet,
  gateway: subnet.replace('0/24', '1'),
  mtu: 1450,
  labels: {},
  options: {},
  created: 'x',
  ...(internal && { internal: true }),
})
const put = (n: ReturnType<typeof net>) => ({ key: keys.network(n.id), value: JSON.stringify(n) })

describe('clusterSubnets', () => {
  const a = net('a', 302, '10.0.2.0/24')
  const b = net('b', 301, '10.0.1.0/24', true)

  test('every network by VNI, derived once while no network record changes', () => {
    const v = clusterView([put(a), put(b)])
    const first = clusterSubnets(v.networks)
    expect(first).toEqual([
      { vni: 301, subnet: '10.0.1.0/24', internal: true },
      { vni: 302, subnet: '10.0.2.0/24', internal: false },
    ])
    // an endpoint's change keeps the network records: the same list (the reconciler's fingerprint is by identity)
    const after = viewApply(v, [{ key: keys.endpoint(a.id, 'e'.repeat(64)), value: '{}' }], [])
    expect(clusterSubnets(after.view.networks)).toBe(first)
  })

  test('derived again when a record changes, one is added, or one goes (the map is changed in place)', () => {
    const v = clusterView([put(a), put(b)])
    const first = clusterSubnets(v.networks)
    const changed = viewApply(v, [put({ ...a, subnet: '10.0.9.0/24' })], []).view
    const second = clusterSubnets(changed.networks)
    expect(second).not.toBe(first)
    expect(second.map((s) => s.subnet)).toEqual(['10.0.1.0/24', '10.0.9.0/24'])
    const c = net('c', 300, '10.0.3.0/24')
    const added = viewApply(changed, [put(c)], []).view
    expect(clusterSubnets(added.networks).map((s) => s.vni)).toEqual([300, 301, 302])
    const gone = viewApply(added, [], [keys.network(b.id)]).view
    expect(clusterSubnets(gone.networks).map((s) => s.vni)).toEqual([300, 302])
  })
})
