// Run by test/agent/reannounce.test.ts and incarnation.test.ts inside a host namespace (the only place a client reaches
// the embedded store): a hand on the cluster store that an agent's restart cannot see.
//   hold NODE ADVERTISE   claim NODE's name under a lease of another name, with NODE's own
//                         advertise address: the restarted agent is not refused (same host),
//                         its claim just fails and is retried, so it stays unregistered (and has
//                         not re-announced) while its admin API already answers. Prints "held";
//                         SIGTERM gives the name back (the lease revoked) and exits.
//   forget NETWORK_ID ENDPOINT_ID IP
//                         delete one endpoint record and its address, as a store that lost its
//                         state would have lost them, and the store's incarnation with them
//                         (src/store/incarnation.ts: a store that lost its state lost its id).
//                         Prints "forgotten".
//   remove NETWORK_ID ENDPOINT_ID IP
//                         delete one endpoint record and its address in a store that keeps its
//                         data: a removal by another host, the disconnect's transaction. Prints
//                         "removed".
//   rm-network NETWORK_ID
//                         remove a network with its endpoints (what a forced removal on another
//                         host writes: record, name, VNI, addresses and endpoints in one
//                         transaction). Prints "removed".
//   ids                   print the ids of every endpoint record in the store (JSON), read
//                         from the store itself, not from an agent's mirror.
//   keys PREFIX           print every key under PREFIX (JSON), from the store itself.
// The store: $WEFT_STORE (consul://HOST:PORT), with $WEFT_JOIN_TOKEN.
// Not a *.test.ts: it needs the store address and token the test passes.
import { keys } from '../../src/cluster/index.ts'
import { openStoreFromFlags } from '../../src/cli/store-access.ts'
import { INCARNATION_KEY } from '../../src/store/incarnation.ts'

const url = process.env.WEFT_STORE
if (!url)
  throw new Error(
    'WEFT_STORE is not set: run test/agent/reannounce.test.ts or incarnation.test.ts, which pass it',
  )
const { store } = await openStoreFromFlags({ store: url }, process.env)
const [cmd, ...args] = process.argv.slice(2)

if (cmd === 'hold') {
  const [node, advertise] = args
  if (!node || !advertise) throw new Error('usage: hold NODE ADVERTISE')
  // the killed agent's lease still holds the key until its TTL: end it, as its restart would
  await store.leases.revokeNamed(`weft-node-${node}`)
  const lease = await store.leases.grant({ name: `weft-test-hold-${node}`, ttlMs: 30_000 })
  const record = { name: node, advertise, datapath: 'bpf', version: 'test-hold', started: '' }
  if (!(await store.leases.claim(keys.node(node), JSON.stringify(record), lease)))
    throw new Error(`could not claim ${keys.node(node)}: another lease holds it`)
  const ac = new AbortController()
  store.leases.keepAlive(lease, 30_000, {
    signal: ac.signal,
    onLost: () => {
      console.error('the hold lease was lost')
      process.exit(3)
    },
  })
  process.on('SIGTERM', () => {
    ac.abort()
    store.leases.revoke(lease).then(
      () => process.exit(0),
      (e: unknown) => {
        console.error(`revoke failed: ${(e as Error).message}`)
        process.exit(1)
      },
    )
  })
  console.log('held')
} else if (cmd === 'forget') {
  const [networkId, endpointId, ip] = args
  if (!networkId || !endpointId || !ip) throw new Error('usage: forget NETWORK_ID ENDPOINT_ID IP')
  const out = await store.txn([
    { op: 'delete', key: keys.endpoint(networkId, endpointId) },
    { op: 'delete', key: keys.ipam(networkId, ip) },
    { op: 'delete', key: INCARNATION_KEY },
  ])
  if (!out.ok) throw new Error('the delete was refused')
  console.log('forgotten')
} else if (cmd === 'remove') {
  const [networkId, endpointId, ip] = args
  if (!networkId || !endpointId || !ip) throw new Error('usage: remove NETWORK_ID ENDPOINT_ID IP')
  const rec = await store.get(keys.endpoint(networkId, endpointId))
  if (!rec) throw new Error(`no endpoint record ${keys.endpoint(networkId, endpointId)}`)
  const out = await store.txn([
    { op: 'delete', key: rec.key, ifRevision: rec.modifyIndex },
    { op: 'delete', key: keys.ipam(networkId, ip) },
  ])
  if (!out.ok) throw new Error('the delete was refused')
  console.log('removed')
} else if (cmd === 'rm-network') {
  const [networkId] = args
  if (!networkId) throw new Error('usage: rm-network NETWORK_ID')
  const rec = await store.get(keys.network(networkId))
  if (!rec) throw new Error(`no network record ${keys.network(networkId)}`)
  const net = JSON.parse(rec.value) as { name: string; vni: number }
  const out = await store.txn([
    { op: 'delete', key: rec.key, ifRevision: rec.modifyIndex },
    { op: 'delete', key: keys.name(net.name) },
    { op: 'delete', key: keys.vni(net.vni) },
    { op: 'delete-prefix', prefix: keys.ipamOf(networkId) },
    { op: 'delete-prefix', prefix: keys.endpointsOf(networkId) },
  ])
  if (!out.ok) throw new Error('the removal was refused')
  console.log('removed')
} else if (cmd === 'keys') {
  const [prefix] = args
  if (!prefix) throw new Error('usage: keys PREFIX')
  console.log(JSON.stringify((await store.list(prefix)).map((e) => e.key)))
} else if (cmd === 'ids') {
  const all = await store.list(keys.endpoints())
  console.log(JSON.stringify(all.map((e) => e.key.slice(e.key.lastIndexOf('/') + 1)).sort()))
} else {
  throw new Error(
    `unknown command ${cmd ?? '(none)'}: hold NODE ADVERTISE | forget|remove NETWORK_ID ENDPOINT_ID IP | rm-network NETWORK_ID | ids | keys PREFIX`,
  )
}
