// Node registration on a cluster store: the node record is claimed with a lease, claimed again
// when the lease is lost, removed at once on deregistration, and stop() never waits out a backoff.
import { describe, expect, test } from 'bun:test'
import { registerNode } from '../../src/agent/registration.ts'
import { keys, type NodeRecord } from '../../src/cluster/index.ts'
import { StoreUnreachableError } from '../../src/errors/index.ts'
import type { ClusterStore } from '../../src/store/index.ts'
import { MemoryDeltaStore } from '../fakes/agent-memory-store.ts'
import { startKvRig } from '../fakes/agent-store.ts'
import { quietLog } from '../fakes/agent-service-rig.ts'

const record = (name: string): NodeRecord => ({
  name,
  advertise: '192.0.2.10',
  datapath: 'bpf',
  version: 'test',
  started: '2026-01-01T00:00:00Z',
})
const log = { ...quietLog, child: () => log } as never

async function until(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await Bun.sleep(10)
  }
}

for (const [name, open] of [
  [
    'the embedded Consul server',
    async () => {
      const rig = await startKvRig()
      return { store: rig.store as ClusterStore, close: rig.cleanup }
    },
  ],
  [
    'an etcd-shaped delta store',
    async () => {
      const store = new MemoryDeltaStore()
      return { store: store as ClusterStore, close: async () => store.close() }
    },
  ],
] as const) {
  describe(`registerNode on ${name}`, () => {
    test('claims the node record, claims it again after the lease is lost, and deregisters at once', async () => {
      const { store, close } = await open()
      try {
        let registrations = 0
        const reg = registerNode(store, record('n1'), 400, log, async () => void registrations++)
        await reg.ready
        expect(reg.registered()).toBe(true)
        expect(JSON.parse((await store.get(keys.node('n1')))!.value).advertise).toBe('192.0.2.10')
        // the store forgets the lease (restarted without state, expired while partitioned)
        await store.leases.revokeNamed('weft-node-n1')
        await until(() => registrations === 2, 'the node to register again')
        expect(await store.get(keys.node('n1'))).toBeDefined()
        await reg.stop({ deregister: true })
        await until(
          async () => (await store.get(keys.node('n1'))) === undefined,
          'the record to go with the lease',
        )
        // stop is safe to repeat
        await reg.stop({ deregister: true })
      } finally {
        await close()
      }
    })
  })
}

describe('registerNode', () => {
  test('stop() returns at once while registration is backing off from an unreachable store', async () => {
    const store = new MemoryDeltaStore()
    let attempts = 0
    store.leases.grant = async () => {
      attempts++
      throw new StoreUnreachableError('store unreachable at memory://delta: injected')
    }
    const reg = registerNode(store, record('n2'), 400, log, async () => {})
    await until(() => attempts >= 3, 'a few failed attempts (backoff grows to 800 ms)')
    const t0 = Date.now()
    await reg.stop()
    expect(Date.now() - t0).toBeLessThan(200)
    expect(reg.registered()).toBe(false)
    store.close()
  })
})
