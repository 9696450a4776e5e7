// Every door refuses addresses that cannot work (issue 11 item 8): the cluster operations
// themselves, not only the API's schema, refuse reserved subnets and unusable external VTEPs
// (a weft node's own address among them) with a ValidationError that says why, and change
// nothing. A real cluster store: the embedded KV server in this process.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ClusterOps, keys, ROOT } from '../../src/cluster/index.ts'
import { ValidationError } from '../../src/errors/index.ts'
import { startKvRig, type KvRig } from '../fakes/agent-store.ts'

let rig: KvRig
let ops: ClusterOps
beforeAll(async () => {
  rig = await startKvRig()
  ops = new ClusterOps(rig.store, 1450)
  const node = {
    name: 'rbh2',
    advertise: '198.18.0.12',
    datapath: 'bpf',
    version: 'test',
    started: new Date().toISOString(),
  }
  await rig.store.txn([{ op: 'put', key: keys.node('rbh2'), value: JSON.stringify(node) }])
})
afterAll(() => rig.cleanup())

const none = () => new Set<string>()
const tree = async () =>
  (await rig.store.list(ROOT)).map((e) => `${e.key}@${e.modifyIndex}=${e.value}`)

async function refused(fn: () => Promise<unknown>, why: string): Promise<void> {
  const before = await tree()
  const err = await fn().then(
    () => undefined,
    (e: Error) => e,
  )
  expect(err).toBeInstanceOf(ValidationError)
  expect(err!.message).toContain(why)
  expect(await tree()).toEqual(before)
}

describe('ClusterOps refuses addresses that cannot work', () => {
  for (const [subnet, why] of [
    ['224.0.0.0/24', 'multicast'],
    ['127.0.0.0/24', 'loopback'],
    ['255.255.255.0/24', 'reserved'],
    ['0.0.0.0/8', '"this network"'],
    ['169.254.10.0/24', 'link-local'],
  ] as const) {
    test(`createNetwork refuses subnet ${subnet} (${why})`, async () => {
      await refused(() => ops.createNetwork({ name: `n${subnet.replace(/\W/g, '')}`, subnet }), why)
    })
  }

  test("external connect refuses unusable VTEPs and a weft node's own address, naming the node", async () => {
    const net = await ops.createNetwork({ name: 'ext-net', subnet: '10.60.0.0/24' })
    const ext = (vtep: string) => () =>
      ops.connect(
        {
          network: net.name,
          ip: '10.60.0.9',
          external: { name: 'ext', mac: '02:00:00:00:00:09', vtep },
        },
        'n1',
        none,
      )
    await refused(ext('0.0.0.0'), '0.0.0.0/8')
    await refused(ext('127.0.0.1'), 'loopback')
    await refused(ext('224.0.0.1'), 'multicast')
    await refused(ext('255.255.255.255'), 'reserved')
    await refused(ext('198.18.0.12'), 'weft node rbh2')
    const ok = await ext('192.0.2.7')()
    expect(ok.vtep).toBe('192.0.2.7')
  })
})
