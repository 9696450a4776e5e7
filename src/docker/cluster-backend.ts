// DockerBackend over what the agent has: ClusterOps for networks, the cluster store (wrapped
// so this agent's writes reach its mirror at once) for address reservations and endpoint
// records (each one compare-and-set transaction), the mirror for reads and waits, and the
// reconciler for "is the veth pair made yet". Each reservation has a record of its host and time
// beside its address key (reservations.ts), so one no endpoint took can be reclaimed.
//
// Design note (2026-12): a removal waits until the network's endpoints in the view are the
// store's (networkSynced). A restarted agent runs from its local mirror until it registered;
// then it re-announces the endpoints of that mirror the store lacks, and only then follows the
// store. An endpoint removed before that (the endpoint reconciliation at start, a DeleteEndpoint
// Docker retried) was re-announced, address included: the next container did not get it back.
import {
  ConflictError,
  NotFoundError,
  StoreUnreachableError,
  ValidationError,
} from '../errors/index.ts'
import {
  keys,
  newId,
  nextFreeAddress,
  type ClusterOps,
  type EndpointRecord,
  type NetworkRecord,
} from '../cluster/index.ts'
import type { ClusterMirror } from '../mirror/index.ts'
import type { Reconciler } from '../reconcile/index.ts'
import type { ClusterStore, StoreOp } from '../store/index.ts'
import { assertHostAddress, hostIfnameFor, parseCidr, parseIPv4 } from '../net/index.ts'
import type { DockerBackend, NewDockerEndpoint, NewNetwork } from './backend.ts'
import {
  isStale,
  parseReservation,
  reservationKeys,
  type ReservationRecord,
} from './reservations.ts'

/** How long a CreateEndpoint waits for the datapath to make the veth pair. */
const ATTACH_TIMEOUT_MS = 15_000
const MAX_TRIES = 32

export interface ClusterBackendDeps {
  node: string
  ops: ClusterOps
  /** Writes through here are in the mirror when they resolve (observeWrites). */
  store: ClusterStore
  mirror: Pick<ClusterMirror, 'view' | 'waitFor' | 'onChange'>
  reconciler: Pick<Reconciler, 'attachDone' | 'localError' | 'isAttached' | 'settled' | 'trigger'>
  /**
   * Whether the view holds the store's endpoints of this network (the agent follows it): false
   * after a restart until the agent registered and re-announced. Re-checked on view changes.
   */
  networkSynced(networkId: string): boolean
}

const json = (o: unknown) => JSON.stringify(o)

export function clusterBackend(d: ClusterBackendDeps): DockerBackend {
  const entry = (key: string) => d.store.get(key)
  const view = () => d.mirror.view()

  const liveNetwork = async (networkId: string) => {
    const row = await entry(keys.network(networkId))
    if (!row)
      throw new NotFoundError(
        `weft network ${networkId.slice(0, 12)} not found`,
        'network_not_found',
      )
    const net = JSON.parse(row.value) as NetworkRecord
    if (net.removing)
      throw new NotFoundError(`network ${net.name} is being removed`, 'network_not_found')
    return { net, modifyIndex: row.modifyIndex }
  }

  /** Delete an address key still held at `revision`, with its reservation record. */
  const dropReservation = (networkId: string, ip: string, revision: bigint) =>
    // not ok: the address changed meanwhile, so it is not ours to delete any more
    d.store.txn([
      { op: 'delete', key: keys.ipam(networkId, ip), ifRevision: revision },
      { op: 'delete', key: reservationKeys.one(d.node, networkId, ip) },
    ])

  const backend: DockerBackend = {
    node: d.node,
    networks: () => [...view().networks.values()],
    network: (id) => view().networks.get(id),
    networkByName: (name) => [...view().networks.values()].find((n) => n.name === name),

    createNetwork: (input: NewNetwork) => d.ops.createNetwork(input),

    async removeNetwork(id) {
      await d.ops.removeNetwork(id)
      d.reconciler.trigger()
    },

    async allocateAddress(networkId, requested) {
      const want = requested === undefined ? undefined : parseIPv4(requested, 'ip')
      for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
        const { net, modifyIndex } = await liveNetwork(networkId)
        const subnet = parseCidr(net.subnet)
        const taken = new Set(
          (await d.store.list(keys.ipamOf(net.id))).map((r) =>
            r.key.slice(keys.ipamOf(net.id).length),
          ),
        )
        let ip: string
        if (want) {
          assertHostAddress(want, subnet, 'ip')
          if (want === net.gateway)
            throw new ConflictError(`address ${want} is the gateway of ${net.name}`, 'ip_taken')
          if (taken.has(want))
            throw new ConflictError(
              `address ${want} is already in use in network ${net.name}`,
              'ip_taken',
            )
          ip = want
        } else {
          const free = nextFreeAddress(
            subnet,
            net.gateway,
            taken,
            net.ipRange ? parseCidr(net.ipRange) : undefined,
          )
          if (!free)
            throw new ConflictError(
              `network ${net.name} has no free address left in ${net.ipRange ?? net.subnet}`,
              'pool_exhausted',
            )
          ip = free
        }
        const id = newId()
        const reservation: ReservationRecord = {
          id,
          networkId: net.id,
          ip,
          node: d.node,
          created: new Date().toISOString(),
        }
        const out = await d.store.txn([
          { op: 'check', key: keys.network(net.id), revision: modifyIndex },
          { op: 'put', key: keys.ipam(net.id, ip), value: id, ifRevision: 0n },
          {
            op: 'put',
            key: reservationKeys.one(d.node, net.id, ip),
            value: json(reservation),
          },
        ])
        if (out.ok) return { ip, id }
        if (want && out.failed.includes(1))
          throw new ConflictError(
            `address ${want} is already in use in network ${net.name}`,
            'ip_taken',
          )
        await Bun.sleep(Math.random() * 5 * (attempt + 1)) // another host took it, or the network changed: re-read
      }
      throw new ConflictError(
        `could not allocate an address in ${networkId.slice(0, 12)}: too much concurrent change, try again`,
      )
    },

    async releaseAddress(networkId, ip, id) {
      const row = await entry(keys.ipam(networkId, ip))
      if (!row || row.value !== id) return
      if (view().endpoints.has(id)) return // became an endpoint: removeEndpoint frees it
      await dropReservation(networkId, ip, row.modifyIndex)
    },

    async reservationOf(networkId, ip) {
      const row = await entry(reservationKeys.one(d.node, networkId, ip))
      const r = row ? parseReservation(row.value) : undefined
      if (!r) return undefined
      return (await entry(keys.ipam(networkId, ip)))?.value === r.id ? r.id : undefined
    },

    async reclaimReservations(maxAgeMs) {
      const reclaimed: ReservationRecord[] = []
      const now = Date.now()
      for (const row of await d.store.list(reservationKeys.ofNode(d.node))) {
        const r = parseReservation(row.value)
        if (r && !isStale(r, now, maxAgeMs)) continue
        const [lease, endpoint] = r
          ? await Promise.all([
              entry(keys.ipam(r.networkId, r.ip)),
              entry(keys.endpoint(r.networkId, r.id)),
            ])
          : [undefined, undefined]
        // the address goes only while it is still this reservation's and no endpoint holds it
        const orphaned = r && lease?.value === r.id && !endpoint
        const out = await d.store.txn([
          { op: 'delete', key: row.key, ifRevision: row.modifyIndex },
          ...(orphaned
            ? [{ op: 'delete' as const, key: lease.key, ifRevision: lease.modifyIndex }]
            : []),
        ])
        if (out.ok && orphaned) reclaimed.push(r)
      }
      return reclaimed
    },

    // from the store: address keys are not mirrored (scoped following derives them from endpoints)
    addressOwner: async (networkId, ip) => (await entry(keys.ipam(networkId, ip)))?.value,

    async createEndpoint(input: NewDockerEndpoint) {
      const hostIfname = hostIfnameFor(input.id)
      let record = view().endpoints.get(input.id)
      if (!record) {
        const [{ net, modifyIndex }, lease] = await Promise.all([
          liveNetwork(input.networkId),
          entry(keys.ipam(input.networkId, input.ip)),
        ])
        if (!lease || lease.value !== input.id) {
          throw new ConflictError(
            `address ${input.ip} is not reserved for this endpoint (any more): restart the container`,
            'ip_taken',
          )
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
        const out = await d.store.txn([
          { op: 'check', key: keys.network(net.id), revision: modifyIndex },
          { op: 'check', key: keys.ipam(net.id, input.ip), revision: lease.modifyIndex },
          { op: 'put', key: keys.endpoint(net.id, input.id), value: json(record), ifRevision: 0n },
          // an endpoint holds the address now: no longer a reservation to reclaim
          { op: 'delete', key: reservationKeys.one(d.node, net.id, input.ip) },
        ])
        if (!out.ok)
          throw new ConflictError(
            `network ${net.name} or address ${input.ip} changed meanwhile: retry`,
          )
      }
      try {
        await d.mirror.waitFor(
          (v) => v.endpoints.has(input.id),
          ATTACH_TIMEOUT_MS,
          `endpoint ${input.id.slice(0, 12)} in the view`,
        )
        await withDeadline(
          d.reconciler.attachDone(hostIfname),
          ATTACH_TIMEOUT_MS,
          `the datapath to make ${hostIfname}`,
        )
        const err =
          d.reconciler.localError(hostIfname) ??
          (d.reconciler.isAttached(hostIfname) ? undefined : 'not programmed')
        if (err)
          throw new ValidationError(
            `attach docker endpoint ${input.dockerEndpoint.slice(0, 12)} failed: ${err}`,
          )
        return record
      } catch (e) {
        await backend.removeEndpoint(input.networkId, input.id).catch(() => {}) // nothing half-made stays
        throw e
      }
    },

    async renameEndpoint(networkId, id, name, aliases, dockerSandbox) {
      for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
        const row = await entry(keys.endpoint(networkId, id))
        if (!row) return
        const rec = JSON.parse(row.value) as EndpointRecord
        const named: EndpointRecord = {
          ...rec,
          name,
          ...(aliases.length ? { aliases } : {}),
          ...(dockerSandbox ? { dockerSandbox } : {}),
        }
        if (json(named) === row.value) return
        if (
          (
            await d.store.txn([
              { op: 'put', key: row.key, value: json(named), ifRevision: row.modifyIndex },
            ])
          ).ok
        )
          return
      }
      throw new ConflictError(
        `could not name endpoint ${id.slice(0, 12)}: too much concurrent change, try again`,
      )
    },

    async removeEndpoint(networkId, id) {
      if (view().endpoints.has(id) && !d.networkSynced(networkId)) {
        await d.mirror.waitFor(
          () => d.networkSynced(networkId),
          ATTACH_TIMEOUT_MS,
          'this agent to follow the store (it registers and re-announces first)',
        )
      }
      const [row, viewRec] = [await entry(keys.endpoint(networkId, id)), view().endpoints.get(id)]
      const rec = row ? (JSON.parse(row.value) as EndpointRecord) : viewRec
      if (row) {
        const ops: StoreOp[] = [{ op: 'delete', key: row.key, ifRevision: row.modifyIndex }]
        const lease = rec ? await entry(keys.ipam(networkId, rec.ip)) : undefined
        // the address goes with its record only while it is still this endpoint's
        if (lease?.value === id)
          ops.push({ op: 'delete', key: lease.key, ifRevision: lease.modifyIndex })
        const out = await d.store.txn(ops)
        if (!out.ok) return backend.removeEndpoint(networkId, id) // changed meanwhile: read again
      }
      if (!viewRec) return
      await d.mirror.waitFor(
        (v) => !v.endpoints.has(id),
        ATTACH_TIMEOUT_MS,
        'the endpoint removal to reach the view',
      )
      await d.reconciler.settled()
    },

    dockerEndpoints: () =>
      [...view().endpoints.values()].filter((e) => e.node === d.node && e.plumbing === 'docker'),

    onChange: (listener) => d.mirror.onChange(listener),
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
