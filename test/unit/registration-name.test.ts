// A node name held by another host is never taken over (issue 11.2), on both store shapes: a
// second registration with another advertise address is refused at start (onRefusedAtStart,
// naming the holder's address) and the holder's record stays; the same address takes the
// name back at once although the earlier lease is still live (a restart of the same host).
import { describe, expect, test } from 'bun:test'
import { NodeNameHeldError, registerNode } from '../../src/agent/registration.ts'
import { keys, type NodeRecord } from '../../src/cluster/index.ts'
import type { ClusterStore } from '../../src/store/index.ts'
import { MemoryDeltaStore } from '../fakes/agent-memory-store.ts'
import { startKvRig } from '../fakes/agent-store.ts'
import { quietLog } from '../fakes/agent-service-rig.ts'

const record = (advertise: string, started: string): NodeRecord => ({ name: 'n1', advertise, datapath: 'bpf', version: 'test', started })
const log = { ...quietLog, child: () => log } as never
// longer than a test takes, so whatever is taken back was taken back, not left to expire (and
// short: the delta fake's keepAlive notices stop() only at its next renewal, every TTL/4)
const TTL = 4000

for (const [name, open] of [
  ['the embedded Consul server', async () => {
    const rig = await startKvRig()
    return { store: rig.store as ClusterStore, close: rig.cleanup }
  }],
  ['an etcd-shaped delta store', async () => {
    const store = new MemoryDeltaStore()
    return { store: store as ClusterStore, close: async () => store.close() }
  }],
] as const) {
  describe(`node names on ${name}`, () => {
    test('another address is refused at start, naming the holder; the holder keeps its record', async () => {
      const { store, close } = await open()
      try {
        const holder = registerNode(store, record('192.0.2.10', 't1'), TTL, log, async () => {})
        await holder.ready
        let refused: NodeNameHeldError | undefined
        const impostor = registerNode(store, record('192.0.2.99', 't2'), TTL, log, {
          onRegistered: async () => {},
          onRefusedAtStart: (e) => (refused = e),
        })
        const deadline = Date.now() + 5000
        while (!refused && Date.now() < deadline) await Bun.sleep(10)
        expect(refused).toBeInstanceOf(NodeNameHeldError)
        expect(refused!.message).toStartWith('node name n1 is held by a live agent at 192.0.2.10 (this agent advertises 192.0.2.99)')
        expect(impostor.registered()).toBe(false)
        expect(JSON.parse((await store.get(keys.node('n1')))!.value)).toMatchObject({ advertise: '192.0.2.10', started: 't1' })
        expect(holder.registered()).toBe(true)
        await impostor.stop()
        await holder.stop()
      } finally {
        await close()
      }
    })

    test('the same address takes the name back while the old lease is still live', async () => {
      const { store, close } = await open()
      try {
        const before = registerNode(store, record('192.0.2.10', 't1'), TTL, log, async () => {})
        await before.ready
        // a crashed process: it stops renewing (no deregistration) but its lease lives on
        await before.stop()
        expect(JSON.parse((await store.get(keys.node('n1')))!.value)).toMatchObject({ started: 't1' })
        const restarted = registerNode(store, record('192.0.2.10', 't2'), TTL, log, {
          onRegistered: async () => {},
          onRefusedAtStart: (e) => {
            throw e
          },
        })
        await restarted.ready
        expect(JSON.parse((await store.get(keys.node('n1')))!.value)).toMatchObject({ advertise: '192.0.2.10', started: 't2' })
        await restarted.stop()
      } finally {
        await close()
      }
    })
  })
}
