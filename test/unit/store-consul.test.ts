// The Consul implementation of the cluster store passes the store contract, against weft's
// embedded Consul-compatible server in this process (no root); and its op mapping is Consul's.
import { describe, expect, test } from 'bun:test'
import { toConsulOp } from '../../src/store/index.ts'
import { runClusterStoreContract } from '../store/contract.ts'
import { startKvRig } from '../fakes/agent-store.ts'

runClusterStoreContract('ConsulStore on the embedded server', async () => {
  const rig = await startKvRig()
  return { store: rig.store, cleanup: rig.cleanup }
})

describe('toConsulOp', () => {
  test('conditions become cas / delete-cas / check-index / check-not-exists', () => {
    expect(toConsulOp({ op: 'put', key: 'k', value: 'v' })).toEqual({
      verb: 'set',
      key: 'k',
      value: 'v',
    })
    expect(toConsulOp({ op: 'put', key: 'k', value: 'v', ifRevision: 0n })).toEqual({
      verb: 'cas',
      key: 'k',
      value: 'v',
      index: 0n,
    })
    expect(toConsulOp({ op: 'delete', key: 'k', ifRevision: 7n })).toEqual({
      verb: 'delete-cas',
      key: 'k',
      index: 7n,
    })
    expect(toConsulOp({ op: 'delete-prefix', prefix: 'p/' })).toEqual({
      verb: 'delete-tree',
      key: 'p/',
    })
    expect(toConsulOp({ op: 'check', key: 'k', revision: 3n })).toEqual({
      verb: 'check-index',
      key: 'k',
      index: 3n,
    })
    expect(toConsulOp({ op: 'check', key: 'k', revision: 0n })).toEqual({
      verb: 'check-not-exists',
      key: 'k',
    })
  })
})
