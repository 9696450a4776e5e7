// LocalSandboxIndex (pure): kept up to date from each view change, it must always say what
// localSandboxes and dockerSandboxes say of the whole view. Random changes through the real
// incremental view (viewApply), compared after every one; and the cases that force a rebuild.
import { describe, expect, test } from 'bun:test'
import { clusterView, keys, type ClusterView } from '../../src/cluster/index.ts'
import { viewApply } from '../../src/cluster/view.ts'
import { dockerSandboxes } from '../../src/dns/docker-sandbox.ts'
import { LocalSandboxIndex, localSandboxes } from '../../src/dns/table.ts'

const id = (n: number) => n.toString(16).padStart(64, '0')
const NETS = [id(0xa), id(0xb), id(0xc)]
const network = (nid: string, i: number) => ({
  key: keys.network(nid),
  value: JSON.stringify({
    id: nid,
    name: `n${i}`,
    driver: 'overlay',
    scope: 'global',
    vni: 256 + i,
    subnet: `10.0.${i}.0/24`,
    gateway: `10.0.${i}.1`,
    mtu: 1450,
    labels: {},
    options: {},
    created: '2026-12-01T00:00:00Z',
  }),
})

/** A small deterministic generator (the failures must be reproducible). */
function rng(seed: number) {
  return (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff
    return seed % n
  }
}

function endpoint(r: (n: number) => number, n: number) {
  const networkId = NETS[r(NETS.length)]!
  const docker = r(4) === 0
  const rec = {
    id: id(n),
    networkId,
    name: `e${n}`,
    ip: `10.0.0.${n % 250}`,
    mac: '02:42:00:00:00:00',
    node: ['n1', 'n2'][r(2)],
    external: r(10) === 0,
    created: '2026-12-01T00:00:00Z',
    ...(docker
      ? { plumbing: 'docker', dockerSandbox: `/var/run/docker/netns/c${r(5)}` }
      : // a bad reference now and then: skipped by both
        { sandbox: r(12) === 0 ? 'not a/valid//ref\0' : `sb${r(6)}` }),
  }
  return { key: keys.endpoint(networkId, rec.id), value: JSON.stringify(rec) }
}

function expectSame(index: LocalSandboxIndex, view: ClusterView) {
  expect(new Set(index.paths())).toEqual(new Set(localSandboxes(view, 'n1').keys()))
  const docker = dockerSandboxes(view, 'n1')
  for (const p of [...docker, ...localSandboxes(view, 'n1').keys()])
    expect(index.isDocker(p)).toBe(docker.has(p))
}

describe('LocalSandboxIndex', () => {
  test('after every random change it says what localSandboxes/dockerSandboxes say of the whole view', () => {
    const r = rng(17)
    let view = clusterView(NETS.map(network))
    const index = new LocalSandboxIndex('n1')
    expect(index.update(view)).toBe('all')
    const live = new Map<number, string>() // endpoint n -> its key
    let incremental = 0
    for (let step = 0; step < 600; step++) {
      const put: { key: string; value: string }[] = []
      const deleted: string[] = []
      for (let k = 0; k < 1 + r(3); k++) {
        const n = r(40)
        const had = live.get(n)
        if (had && r(3) === 0) {
          deleted.push(had)
          live.delete(n)
        } else {
          // a new endpoint, or a changed one (maybe moved to another network: old key goes)
          const e = endpoint(r, n)
          if (had && had !== e.key) deleted.push(had)
          put.push(e)
          live.set(n, e.key)
        }
      }
      view = viewApply(view, put, deleted).view
      const touched = index.update(view, { put, deleted })
      if (touched !== 'all') incremental++
      expectSame(index, view)
    }
    expect(incremental).toBe(600) // no change above forced a rebuild
  })

  test('the paths a change touched are returned; other changes touch none', () => {
    let view = clusterView(NETS.map(network))
    const index = new LocalSandboxIndex('n1')
    index.update(view)
    const rec = {
      id: id(1),
      networkId: NETS[0]!,
      name: 'a',
      ip: '10.0.0.2',
      mac: '02:42:00:00:00:00',
      node: 'n1',
      sandbox: 'sbx',
      external: false,
      created: '2026-12-01T00:00:00Z',
    }
    const put = [{ key: keys.endpoint(NETS[0]!, rec.id), value: JSON.stringify(rec) }]
    view = viewApply(view, put, []).view
    expect(index.update(view, { put, deleted: [] })).toEqual(new Set(['/run/netns/sbx']))
    const other = [{ key: keys.ipam(NETS[0]!, '10.0.0.3'), value: id(2) }]
    view = viewApply(view, other, []).view
    expect(index.update(view, { put: other, deleted: [] })).toEqual(new Set())
    view = viewApply(view, [], [put[0]!.key]).view
    expect(index.update(view, { put: [], deleted: [put[0]!.key] })).toEqual(
      new Set(['/run/netns/sbx']),
    )
    expect([...index.paths()]).toEqual([])
  })

  test('a network change, a rebuilt view or no change given: the whole view is read again', () => {
    let view = clusterView(NETS.map(network))
    const index = new LocalSandboxIndex('n1')
    index.update(view)
    const net = [network(id(0xd), 3)]
    view = viewApply(view, net, []).view
    expect(index.update(view, { put: net, deleted: [] })).toBe('all')
    expect(index.update({ ...view }, undefined)).toBe('all')
    const rebuilt = clusterView([])
    expect(index.update(rebuilt, { put: [], deleted: [] })).toBe('all')
  })
})
