// The store contract also holds for a delta store shaped like etcd (in memory): the interface
// does not assume Consul's snapshots, indexes or sessions.
import { runClusterStoreContract } from '../store/contract.ts'
import { MemoryDeltaStore } from '../fakes/agent-memory-store.ts'

runClusterStoreContract('an etcd-shaped delta store (in memory)', async () => {
  const store = new MemoryDeltaStore()
  return { store, cleanup: async () => store.close() }
})
