// A real three-member etcd cluster in namespaces on the underlay: it elects a leader,
// replicates a put, elects a new leader when the leader is killed, takes a killed member
// back, and leaves nothing behind.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import {
  createTopology,
  etcdLeaks,
  leaks,
  startEtcdCluster,
  type EtcdCluster,
  type Topology,
} from './index.ts'

describe('startEtcdCluster with 3 members', () => {
  let topo: Topology
  let etcd: EtcdCluster

  beforeAll(async () => {
    topo = await createTopology({ hosts: 1 })
    const t0 = performance.now()
    etcd = await startEtcdCluster(topo, 3)
    console.log(`etcd cluster of 3 healthy after ${((performance.now() - t0) / 1000).toFixed(2)} s`)
  }, 60_000)

  afterAll(async () => {
    const prefix = topo.prefix
    await topo.destroy()
    expect(await leaks(prefix)).toEqual([])
    expect(await etcdLeaks(etcd)).toEqual([])
  }, 60_000)

  test('elects one leader that every member agrees on', async () => {
    const leader = await etcd.waitForLeader()
    expect(etcd.members).toContain(leader)
    const statuses = await Promise.all(etcd.members.map((m) => etcd.status(m)))
    expect(new Set(statuses.map((s) => s.leader)).size).toBe(1)
    expect(new Set(statuses.map((s) => s.memberId)).size).toBe(3)
  })

  test('a put through one member is readable through another, and from a host namespace', async () => {
    const [m1, m2, m3] = etcd.members as [
      (typeof etcd.members)[0],
      (typeof etcd.members)[0],
      (typeof etcd.members)[0],
    ]
    await etcd.put(m1, 'weft/v1/test/a', 'one')
    expect(await etcd.get(m2, 'weft/v1/test/a')).toBe('one')
    expect(await etcd.get(m3, 'weft/v1/test/a', { fromNs: topo.hosts[0]!.ns })).toBe('one')
    expect(await etcd.get(m2, 'weft/v1/test/missing')).toBeUndefined()
    expect(etcd.storeUrl).toBe(`etcd://${etcd.members.map((m) => `${m.ip}:2379`).join(',')}`)
  })

  test('killing the leader elects a new one within a few seconds, and writes go on', async () => {
    const old = await etcd.waitForLeader()
    const t0 = performance.now()
    await etcd.kill(old)
    expect(old.running).toBe(false)
    const next = await etcd.waitForLeader({ not: old, timeoutMs: 6000 })
    const seconds = (performance.now() - t0) / 1000
    console.log(`new etcd leader ${next.name} ${seconds.toFixed(2)} s after killing ${old.name}`)
    expect(next).not.toBe(old)
    const other = etcd.members.find((m) => m !== old && m !== next)!
    await etcd.put(next, 'weft/v1/test/b', 'two')
    expect(await etcd.get(other, 'weft/v1/test/b')).toBe('two')

    await etcd.restart(old)
    expect(old.running).toBe(true)
    expect(await etcd.get(old, 'weft/v1/test/b')).toBe('two')
  }, 60_000)

  test('stop() ends every member by PID and removes data and namespaces', async () => {
    const pids = etcd.members.map((m) => m.proc!.pid)
    await etcd.stop()
    expect(await etcdLeaks(etcd)).toEqual([])
    for (const m of etcd.members) expect(m.running).toBe(false)
    expect(pids.length).toBe(3)
  }, 60_000)
})
