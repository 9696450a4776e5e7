// DockerBackend over what the agent has today: ClusterOps for networks, the read-your-own-
// writes cluster KV for address reservations and endpoint records (each one CAS-guarded
// transaction), the local view for reads, and the reconciler for "is the veth made yet".
import { ConflictError, NotFoundError, StoreUnreachableError, ValidationError } from '../errors/index.ts'
import { keys, nextFreeAddress, type ClusterView, type EndpointRecord, type NetworkRecord } from '../cluster/index.ts'
import { newId, type ClusterKv, type ClusterOps } from '../cluster/operations.ts'
import { assertHostAddress, hostIfnameFor, parseCidr, parseIPv4 } from '../net/index.ts'
import type { DockerBackend, NewDockerEndpoint, NewNetwork } from './backend.ts'

/** How long a CreateEndpoint waits for the datapath to make the veth pair. */
const ATTACH_TIMEOUT_MS = 15_000
const MAX_TRIES = 32

export interface ClusterBackendDeps {
  node: string
  ops: ClusterOps
  /** Writes through here are in the view when they resolve (the agent's own-write path). */
  kv: ClusterKv
  view: () => ClusterView
  /** Resolve once `cond()` holds (checked on every view change), or throw after timeoutMs. */
  waitForView(cond: () => boolean, timeoutMs: number, what: string): Promise<void>
  /** Listen to view changes; returns the unsubscribe. */
  onViewChange(listener: () => void): () => void
  /** The reconciler: when a local endpoint's veth is made, or why not. */
  attach: {
    done(hostIfname: string): Promise<void>
    error(hostIfname: string): string | undefined
    attached(hostIfname: string): boolean
    settled(): Promise<void>
    trigger(): void
  }
}

const json = (o: unknown) => JSON.stringify(o)
const isTxnError = (e: unknown) => typeof e === 'object' && e !== null && Array.isArray((e as { errors?: unknown }).errors)

export function clusterBackend(d: ClusterBackendDeps): DockerBackend {
  const entry = async (key: string) => (await d.kv.list(key)).find((r) => r.key === key)

  const liveNetwork = async (networkId: string) => {
    const row = await entry(keys.network(networkId))
    if (!row) throw new NotFoundError(`weft network ${networkId.slice(0, 12)} not found`, 'network_not_found')
    const net = JSON.parse(row.value) as NetworkRecord
    if (net.removing) throw new NotFoundError(`network ${net.name} is being removed`, 'network_not_found')
    return { net, modifyIndex: row.modifyIndex }
  }

  const backend: DockerBackend = {
    node: d.node,
    networks: () => [...d.view().networks.values()],
    network: (id) => d.view().networks.get(id),
    networkByName: (name) => [...d.view().networks.values()].find((n) => n.name === name),

    createNetwork: (input: NewNetwork) => d.ops.createNetwork(input),

    async removeNetwork(id) {
      await d.ops.removeNetwork(id)
      d.attach.trigger()
    },

    async allocateAddress(networkId, requested) {
      const want = requested === undefined ? undefined : parseIPv4(requested, 'ip')
      for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
        const { net, modifyIndex } = await liveNetwork(networkId)
        const subnet = parseCidr(net.subnet)
        const taken = new Set((await d.kv.list(keys.ipamOf(net.id))).map((r) => r.key.slice(keys.ipamOf(net.id).length)))
        let ip: string
        if (want) {
          assertHostAddress(want, subnet, 'ip')
          if (want === net.gateway) throw new ConflictError(`address ${want} is the gateway of ${net.name}`, 'ip_taken')
          if (taken.has(want)) throw new ConflictError(`address ${want} is already in use in network ${net.name}`, 'ip_taken')
          ip = want
        } else {
          const free = nextFreeAddress(subnet, net.gateway, taken, net.ipRange ? parseCidr(net.ipRange) : undefined)
          if (!free) throw new ConflictError(`network ${net.name} has no free address left in ${net.ipRange ?? net.subnet}`, 'pool_exhausted')
          ip = free
        }
        const id = newId()
        try {
          await d.kv.txn([
            { verb: 'check-index', key: keys.network(net.id), index: modifyIndex },
            { verb: 'cas', key: keys.ipam(net.id, ip), value: id, index: 0n },
          ])
          return { ip, id }
        } catch (e) {
          if (!isTxnError(e)) throw e
          if (want) throw new ConflictError(`address ${want} is already in use in network ${net.name}`, 'ip_taken')
          await Bun.sleep(Math.random() * 5 * (attempt + 1)) // another host took it: re-read
        }
      }
      throw new ConflictError(`could not allocate an address in ${networkId.slice(0, 12)}: too much concurrent change, try again`)
    },

    async releaseAddress(networkId, ip, id) {
      const row = await entry(keys.ipam(networkId, ip))
      if (!row || row.value !== id) return
      if (d.view().endpoints.has(id)) return // became an endpoint: removeEndpoint frees it
      try {
        await d.kv.txn([{ verb: 'delete-cas', key: keys.ipam(networkId, ip), index: row.modifyIndex }])
      } catch (e) {
        if (!isTxnError(e)) throw e
      }
    },

    addressOwner: (networkId, ip) => d.view().ipam.get(networkId)?.get(ip),

    async createEndpoint(input: NewDockerEndpoint) {
      const hostIfname = hostIfnameFor(input.id)
      let record = d.view().endpoints.get(input.id)
      if (!record) {
        const [{ net, modifyIndex }, lease] = await Promise.all([liveNetwork(input.networkId), entry(keys.ipam(input.networkId, input.ip))])
        if (!lease || lease.value !== input.id) {
          throw new ConflictError(`address ${input.ip} is not reserved for this endpoint (any more): restart the container`, 'ip_taken')
        }
        record = {
          id: input.id,
          networkId: net.id,
          name: input.name,
          ip: input.ip,
          mac: input.mac,
          node: d.node,
          external: false,
          created: new Date().toISOString(),
          plumbing: 'docker',
          dockerEndpoint: input.dockerEndpoint,
        }
        try {
          await d.kv.txn([
            { verb: 'check-index', key: keys.network(net.id), index: modifyIndex },
            { verb: 'check-index', key: keys.ipam(net.id, input.ip), index: lease.modifyIndex },
            { verb: 'cas', key: keys.endpoint(net.id, input.id), value: json(record), index: 0n },
          ])
        } catch (e) {
          if (isTxnError(e)) throw new ConflictError(`network ${net.name} or address ${input.ip} changed meanwhile: retry`)
          throw e
        }
      }
      try {
        await d.waitForView(() => d.view().endpoints.has(input.id), ATTACH_TIMEOUT_MS, `endpoint ${input.id.slice(0, 12)} in the view`)
        await withDeadline(d.attach.done(hostIfname), ATTACH_TIMEOUT_MS, `the datapath to make ${hostIfname}`)
        const err = d.attach.error(hostIfname) ?? (d.attach.attached(hostIfname) ? undefined : 'not programmed')
        if (err) throw new ValidationError(`attach docker endpoint ${input.dockerEndpoint.slice(0, 12)} failed: ${err}`)
        return record
      } catch (e) {
        await backend.removeEndpoint(input.networkId, input.id).catch(() => {}) // nothing half-made stays
        throw e
      }
    },

    async renameEndpoint(networkId, id, name) {
      for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
        const row = await entry(keys.endpoint(networkId, id))
        if (!row) return
        const rec = JSON.parse(row.value) as EndpointRecord
        if (rec.name === name) return
        try {
          await d.kv.txn([{ verb: 'cas', key: row.key, value: json({ ...rec, name }), index: row.modifyIndex }])
          return
        } catch (e) {
          if (!isTxnError(e)) throw e
        }
      }
    },

    async removeEndpoint(networkId, id) {
      const [row, viewRec] = [await entry(keys.endpoint(networkId, id)), d.view().endpoints.get(id)]
      const rec = row ? (JSON.parse(row.value) as EndpointRecord) : viewRec
      const ops: Parameters<ClusterKv['txn']>[0] = [{ verb: 'delete', key: keys.endpoint(networkId, id) }]
      if (rec) {
        const lease = await entry(keys.ipam(networkId, rec.ip))
        if (lease?.value === id) ops.push({ verb: 'delete-cas', key: lease.key, index: lease.modifyIndex })
      }
      try {
        await d.kv.txn(ops)
      } catch (e) {
        if (!isTxnError(e)) throw e
        await d.kv.txn([{ verb: 'delete', key: keys.endpoint(networkId, id) }]) // the address moved on: drop the record only
      }
      if (!viewRec) return
      await d.waitForView(() => !d.view().endpoints.has(id), ATTACH_TIMEOUT_MS, 'the endpoint removal to reach the view')
      await d.attach.settled()
    },

    dockerEndpoints: () => [...d.view().endpoints.values()].filter((e) => e.node === d.node && e.plumbing === 'docker'),

    onChange: (listener) => d.onViewChange(listener),
  }
  return backend
}

async function withDeadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: ReturnType<typeof setTimeout> | undefined
  const late = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new StoreUnreachableError(`timed out waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([p, late])
  } finally {
    clearTimeout(t)
  }
}
