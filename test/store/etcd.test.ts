// EtcdStore against a real etcd member (Debian's etcd 3.4) in a namespace: the shared store
// contract and the watch's compaction resync, run by a `bun test` inside a host namespace of
// the topology (only from there is the member reachable; this process stays in its own).
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  createTopology,
  etcdLeaks,
  leaks,
  spawnIn,
  startEtcdCluster,
  type EtcdCluster,
  type Topology,
} from '../harness/index.ts'

const ROOT = join(import.meta.dir, '..', '..')
let topo: Topology
let etcd: EtcdCluster

beforeAll(async () => {
  topo = await createTopology({ hosts: 1 })
  etcd = await startEtcdCluster(topo, 1)
}, 60_000)

afterAll(async () => {
  const prefix = topo.prefix
  await topo.destroy()
  expect(await leaks(prefix)).toEqual([])
  expect(await etcdLeaks(etcd)).toEqual([])
}, 60_000)

test('EtcdStore passes the store contract against a real etcd (run in a host namespace)', async () => {
  const child = spawnIn(
    topo.hosts[0]!.ns,
    [process.execPath, 'test', '--timeout', '60000', join(ROOT, 'test/etcd/contract-in-netns.ts')],
    {
      env: { WEFT_TEST_ETCD: etcd.members.map((m) => m.clientUrl).join(',') },
    },
  )
  topo.track(() => child.stop())
  const code = await child.exited
  const out = child.stderr()
  console.log(
    out
      .split('\n')
      .filter((l) => /pass|fail|✓|✗|error/i.test(l))
      .join('\n'),
  )
  if (code !== 0)
    throw new Error(`the contract run in ${topo.hosts[0]!.ns} exited ${code}:\n${out.slice(-6000)}`)
  expect(out).toMatch(/\b0 fail\b/)
  expect(out).toMatch(/\b1[0-9] pass\b/)
}, 120_000)
