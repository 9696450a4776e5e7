// Published ports and --internal in the cluster operations, against a real cluster store (the
// embedded KV server in this process): a host port is claimed once per node through a
// conditional put, a refusal (409, 400) changes nothing, disconnect frees the port.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { ClusterOps, keys, ROOT } from '../../src/cluster/index.ts'
import { ConflictError, ValidationError } from '../../src/errors/index.ts'
import { startKvRig, type KvRig } from '../fakes/agent-store.ts'

let rig: KvRig
let ops: ClusterOps
beforeAll(async () => {
  rig = await startKvRig()
  ops = new ClusterOps(rig.store, 1450)
})
afterAll(() => rig.cleanup())

const none = () => new Set<string>()
const tree = async () => (await rig.store.list(ROOT)).map((e) => `${e.key}@${e.modifyIndex}=${e.value}`)
const web = { proto: 'tcp' as const, hostPort: 8080, containerPort: 80 }

async function refuses(fn: () => Promise<unknown>, cls: new (...a: never[]) => Error, code: string): Promise<Error> {
  const before = await tree()
  const err = await fn().then(() => undefined, (e: Error) => e)
  expect(err).toBeInstanceOf(cls)
  expect((err as { code?: string }).code).toBe(code)
  expect(await tree()).toEqual(before)
  return err!
}

describe('ClusterOps: published ports and --internal', () => {
  test('a connect publishes its ports in the record and claims each host port on its node', async () => {
    await ops.createNetwork({ name: 'pub-a', subnet: '10.60.0.0/24' })
    const ep = await ops.connect({ network: 'pub-a', sandbox: 's1', publish: [web, { proto: 'udp', hostPort: 8080, containerPort: 53 }] }, 'h1', none)
    expect(ep.ports).toEqual([web, { proto: 'udp', hostPort: 8080, containerPort: 53 }])
    const claim = await rig.store.list(keys.port('h1', 'tcp', 8080))
    expect(claim.map((e) => e.value)).toEqual([`${ep.networkId}/${ep.id}`])
  })

  test('the same host port on the same node is 409 (from any network), and changes nothing', async () => {
    await ops.createNetwork({ name: 'pub-b', subnet: '10.61.0.0/24' })
    const err = await refuses(() => ops.connect({ network: 'pub-b', sandbox: 's2', publish: [{ ...web, hostIp: '198.18.0.1', containerPort: 81 }] }, 'h1', none), ConflictError, 'port_taken')
    expect(err.message).toContain('tcp/8080 is already published on node h1 (by s1')
  })

  test('on another node the same host port is free', async () => {
    const ep = await ops.connect({ network: 'pub-b', sandbox: 's3', publish: [web] }, 'h2', none)
    expect(ep.ports).toEqual([web])
  })

  test('disconnect frees the port, and a port left by a record removed another way is taken over', async () => {
    await ops.disconnect('pub-a', 's1', 'h1')
    expect(await rig.store.list(keys.port('h1', 'tcp', 8080))).toEqual([])
    const again = await ops.connect({ network: 'pub-b', sandbox: 's4', publish: [web] }, 'h1', none)
    // its record vanishes without a disconnect (as a network's endpoints can): the claim is stale
    await rig.store.txn([{ op: 'delete', key: keys.endpoint(again.networkId, again.id) }, { op: 'delete', key: keys.ipam(again.networkId, again.ip) }])
    const next = await ops.connect({ network: 'pub-b', sandbox: 's5', publish: [web] }, 'h1', none)
    expect((await rig.store.list(keys.port('h1', 'tcp', 8080))).map((e) => e.value)).toEqual([`${next.networkId}/${next.id}`])
  })

  test('bad publications are refused before anything is written', async () => {
    await refuses(() => ops.connect({ network: 'pub-b', sandbox: 's6', publish: [web, { ...web, containerPort: 90 }] }, 'h3', none), ValidationError, 'invalid_input')
    await refuses(() => ops.connect({ network: 'pub-b', sandbox: 's6', publish: [{ ...web, hostPort: 0 }] }, 'h3', none), ValidationError, 'invalid_input')
    await refuses(
      () => ops.connect({ network: 'pub-b', ip: '10.61.0.50', external: { name: 'ext', mac: '02:00:00:00:00:01', vtep: '198.18.0.9' }, publish: [web] }, 'h3', none),
      ValidationError, 'invalid_input',
    )
  })

  test('an --internal network is recorded as such and publishes nothing', async () => {
    const net = await ops.createNetwork({ name: 'sealed', subnet: '10.62.0.0/24', internal: true })
    expect(net.internal).toBe(true)
    expect((await ops.createNetwork({ name: 'open', subnet: '10.63.0.0/24' })).internal).toBeUndefined()
    const err = await refuses(() => ops.connect({ network: 'sealed', sandbox: 's7', publish: [web] }, 'h3', none), ValidationError, 'invalid_input')
    expect(err.message).toContain('internal')
  })
})
