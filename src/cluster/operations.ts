// Cluster writes: create/remove networks, connect/disconnect endpoints. Every change is one
// Consul transaction guarded by CAS, so a half-made network never exists and two hosts
// never hand out the same name, VNI or address. Validation happens before any write:
// bad input changes nothing.
import { randomBytes } from 'node:crypto'
import { ConflictError, NotFoundError, ValidationError } from '../errors/index.ts'
import type { TxnOp } from '../kv/types.ts'
import {
  assertHostAddress, assertVni, ipInSubnet, macFromIp, parseCidr, parseIPv4, parseMac, type Cidr,
} from '../net/index.ts'
import { nextDefaultSubnet, nextFreeAddress, nextFreeVni, defaultGateway, subnetsOverlap } from './ipam.ts'
import { keys, ROOT } from './keys.ts'
import { EndpointRecord, NetworkRecord } from './records.ts'

/** Reads by prefix: from the store (consistent) or from an agent's local mirror. */
export interface KvReader {
  list(prefix: string): Promise<{ key: string; value: string; modifyIndex: bigint }[]>
}

/** The slice of a Consul client the operations need: `list` is a consistent read. */
export interface ClusterKv extends KvReader {
  /** Atomic; throws an error with `errors: { opIndex, what }[]` when rolled back. */
  txn(ops: TxnOp[]): Promise<void>
}

export interface CreateNetworkInput {
  name: string
  subnet?: string
  gateway?: string
  ipRange?: string
  vni?: number
  mtu?: number
  labels?: Record<string, string>
  options?: Record<string, string>
}

export interface ConnectInput {
  network: string
  /** Container endpoint: the sandbox on this node. */
  sandbox?: string
  /** Requested address (Docker's --ip). */
  ip?: string
  /** External endpoint: name, MAC and VTEP of an address behind a non-weft VTEP. */
  external?: { name: string; mac: string; vtep: string }
  /** The name it resolves by in the network (default: the sandbox's ip-netns name). */
  name?: string
  /** More names it resolves by in the network (Docker's --network-alias). */
  aliases?: string[]
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/
/** A DNS name: dot-separated labels of letters, digits, "_" and inner "-" (names resolve in the network). */
const DNS_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/
const MAX_ALIASES = 32

/** The aliases of a connect, checked and without repeats (DNS names compare without case). */
function checkedAliases(aliases: unknown): string[] | undefined {
  if (aliases === undefined) return undefined
  if (!Array.isArray(aliases) || aliases.length > MAX_ALIASES) throw new ValidationError(`aliases must be a list of at most ${MAX_ALIASES} names`)
  const seen = new Set<string>()
  const out: string[] = []
  for (const a of aliases) {
    if (typeof a !== 'string' || !DNS_NAME.test(a) || /^\d+$/.test(a)) {
      throw new ValidationError(`invalid alias "${a}": use DNS labels (letters, digits, "_", "-"; dots between labels), not only digits`)
    }
    if (!seen.has(a.toLowerCase())) out.push(a)
    seen.add(a.toLowerCase())
  }
  return out
}
const MAX_TRIES = 64

export const newId = () => randomBytes(32).toString('hex')

const json = (o: unknown) => JSON.stringify(o)
const isTxnError = (e: unknown): e is { errors: { opIndex: number; what: string }[] } =>
  typeof e === 'object' && e !== null && Array.isArray((e as { errors?: unknown }).errors)
const failedOps = (e: unknown) => new Set(isTxnError(e) ? e.errors.map((x) => x.opIndex) : [])

export class ClusterOps {
  constructor(
    private readonly kv: ClusterKv,
    /** MTU for networks created without --mtu (underlay MTU - 50). */
    private readonly defaultMtu: number,
    /**
     * The agent's mirror of the tree, possibly a little behind the store. A connect tries it
     * first (no read round trips); the transaction's CAS checks catch a stale guess, and the
     * retry reads the store. Nothing is refused on the mirror's word alone.
     */
    private readonly local?: KvReader,
  ) {}

  async networks(from: KvReader = this.kv): Promise<{ record: NetworkRecord; modifyIndex: bigint }[]> {
    const rows = await from.list(keys.networks())
    return rows.map((r) => ({ record: NetworkRecord.parse(JSON.parse(r.value)), modifyIndex: r.modifyIndex }))
  }

  /** Find a network by exact name, full id, or unique id prefix (as Docker does). */
  async resolveNetwork(ref: string, from: KvReader = this.kv): Promise<{ record: NetworkRecord; modifyIndex: bigint }> {
    if (typeof ref !== 'string' || ref.length === 0) throw new ValidationError('network name or id is required')
    const all = await this.networks(from)
    const byName = all.find((n) => n.record.name === ref)
    if (byName) return byName
    const byId = all.filter((n) => n.record.id.startsWith(ref.toLowerCase()))
    if (byId.length === 1) return byId[0]!
    if (byId.length > 1) throw new ValidationError(`network id prefix "${ref}" is ambiguous: use more characters`)
    throw new NotFoundError(`network ${ref} not found: see \`weft network ls\``, 'network_not_found')
  }

  /** Endpoints of one network, or of every network. */
  async endpoints(networkId?: string, from: KvReader = this.kv): Promise<EndpointRecord[]> {
    const rows = await from.list(networkId ? keys.endpointsOf(networkId) : keys.endpoints())
    return rows.map((r) => EndpointRecord.parse(JSON.parse(r.value)))
  }

  async createNetwork(input: CreateNetworkInput): Promise<NetworkRecord> {
    const name = input.name
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new ValidationError(`invalid network name "${name}": use 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`)
    }
    const subnetIn = input.subnet === undefined ? undefined : parseCidr(input.subnet, 'subnet')
    if (subnetIn && subnetIn.prefixLen > 30) throw new ValidationError(`subnet ${subnetIn.cidr} is too small: use /30 or larger`)
    if (input.vni !== undefined) assertVni(input.vni)
    if (input.mtu !== undefined && (!Number.isInteger(input.mtu) || input.mtu < 576 || input.mtu > this.defaultMtu)) {
      throw new ValidationError(`mtu ${input.mtu} is out of range (576..${this.defaultMtu}: the underlay MTU minus 50 bytes of VXLAN)`)
    }
    if (input.gateway !== undefined && !subnetIn) throw new ValidationError('--gateway needs --subnet')
    if (input.ipRange !== undefined && !subnetIn) throw new ValidationError('--ip-range needs --subnet')
    const range = input.ipRange === undefined ? undefined : parseCidr(input.ipRange, 'ip-range')
    if (range && subnetIn && !(ipInSubnet(range.network, subnetIn) && ipInSubnet(range.broadcast, subnetIn))) {
      throw new ValidationError(`ip-range ${range.cidr} is not inside the subnet ${subnetIn.cidr}`)
    }
    const gateway = input.gateway === undefined ? undefined : parseIPv4(input.gateway, 'gateway')
    if (gateway && subnetIn) assertHostAddress(gateway, subnetIn, 'gateway')
    for (const [k, v] of Object.entries({ ...input.labels, ...input.options })) {
      if (typeof v !== 'string' || k.length === 0) throw new ValidationError(`label/option "${k}" needs a string value`)
    }

    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const [all, seq] = await Promise.all([this.networks(), this.kv.list(keys.networkSeq())])
      if (all.some((n) => n.record.name === name)) {
        throw new ConflictError(`network with name ${name} already exists`, 'name_taken')
      }
      const used = all.map((n) => parseCidr(n.record.subnet))
      const subnet: Cidr | undefined = subnetIn ?? nextDefaultSubnet(used)
      if (!subnet) throw new ConflictError('no free default subnet in 10.0.0.0/16: pass --subnet')
      const clash = all.find((n) => subnetsOverlap(parseCidr(n.record.subnet), subnet))
      if (clash) {
        throw new ConflictError(`subnet ${subnet.cidr} overlaps network ${clash.record.name} (${clash.record.subnet})`, 'subnet_overlap')
      }
      const usedVnis = new Set(all.map((n) => n.record.vni))
      if (input.vni !== undefined && usedVnis.has(input.vni)) {
        const owner = all.find((n) => n.record.vni === input.vni)!
        throw new ConflictError(`VNI ${input.vni} is taken by network ${owner.record.name}`, 'vni_taken')
      }
      const record: NetworkRecord = {
        id: newId(),
        name,
        driver: 'overlay',
        scope: 'global',
        vni: input.vni ?? nextFreeVni(usedVnis),
        subnet: subnet.cidr,
        gateway: gateway ?? defaultGateway(subnet),
        ...(range ? { ipRange: range.cidr } : {}),
        mtu: input.mtu ?? this.defaultMtu,
        labels: { ...input.labels },
        options: { ...input.options },
        created: new Date().toISOString(),
      }
      const seqIndex = seq[0]?.modifyIndex ?? 0n
      const ops: TxnOp[] = [
        { verb: 'cas', key: keys.networkSeq(), value: String(Date.now()), index: seqIndex },
        { verb: 'cas', key: keys.name(name), value: record.id, index: 0n },
        { verb: 'cas', key: keys.vni(record.vni), value: record.id, index: 0n },
        { verb: 'cas', key: keys.network(record.id), value: json(record), index: 0n },
      ]
      try {
        await this.kv.txn(ops)
        return record
      } catch (e) {
        if (!isTxnError(e)) throw e
        const failed = failedOps(e)
        if (failed.has(1)) throw new ConflictError(`network with name ${name} already exists`, 'name_taken')
        if (failed.has(2) && input.vni !== undefined) throw new ConflictError(`VNI ${input.vni} is taken`, 'vni_taken')
        // lost the race on netseq (another network was created/removed): re-read and retry
      }
    }
    throw new ConflictError(`could not create network ${name}: too much concurrent change, try again`)
  }

  async removeNetwork(ref: string): Promise<NetworkRecord> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const { record, modifyIndex } = await this.resolveNetwork(ref)
      // 1. mark it: from now on connects fail their check on the network key
      const marked = { ...record, removing: true }
      try {
        await this.kv.txn([{ verb: 'cas', key: keys.network(record.id), value: json(marked), index: modifyIndex }])
      } catch (e) {
        if (isTxnError(e)) continue
        throw e
      }
      const markedIndex = (await this.kv.list(keys.network(record.id))).find((r) => r.key === keys.network(record.id))?.modifyIndex
      // 2. refuse while endpoints are attached (and unmark)
      const eps = await this.endpoints(record.id)
      if (eps.length > 0 || markedIndex === undefined) {
        if (markedIndex !== undefined) {
          await this.kv
            .txn([{ verb: 'cas', key: keys.network(record.id), value: json(record), index: markedIndex }])
            .catch(() => {})
        }
        const names = eps.slice(0, 5).map((e) => e.name).join(', ')
        throw new ConflictError(
          `network ${record.name} has active endpoints (${names}${eps.length > 5 ? ', …' : ''}): disconnect them first`,
          'network_in_use',
        )
      }
      // 3. delete it and everything keyed by it, in one transaction
      const seq = await this.kv.list(keys.networkSeq())
      try {
        await this.kv.txn([
          { verb: 'cas', key: keys.networkSeq(), value: String(Date.now()), index: seq[0]?.modifyIndex ?? 0n },
          { verb: 'delete-cas', key: keys.network(record.id), index: markedIndex },
          { verb: 'delete', key: keys.name(record.name) },
          { verb: 'delete', key: keys.vni(record.vni) },
          { verb: 'delete-tree', key: keys.ipamOf(record.id) },
          { verb: 'delete-tree', key: keys.endpointsOf(record.id) },
        ])
        return record
      } catch (e) {
        if (!isTxnError(e)) throw e
      }
    }
    throw new ConflictError(`could not remove network ${ref}: too much concurrent change, try again`)
  }

  /**
   * Connect an endpoint: allocate its address (or take the requested one) with CAS, and
   * write its record, in one transaction that also checks the network is unchanged.
   */
  async connect(input: ConnectInput, node: string, sandboxIfnames: (sandbox: string) => Set<string>): Promise<EndpointRecord> {
    const requested = input.ip === undefined ? undefined : parseIPv4(input.ip, 'ip')
    const ext = input.external
    if (ext) {
      if (!NAME.test(ext.name)) throw new ValidationError(`invalid endpoint name "${ext.name}"`)
      parseMac(ext.mac)
      parseIPv4(ext.vtep, 'vtep')
      if (!requested) throw new ValidationError('an external endpoint needs --ip')
    } else if (!input.sandbox) {
      throw new ValidationError('sandbox is required (netns name, /proc/PID/ns/net, or a netns path)')
    }
    if (input.name !== undefined) {
      if (ext) throw new ValidationError('an external endpoint is named by external.name, not name')
      if (typeof input.name !== 'string' || !NAME.test(input.name) || !DNS_NAME.test(input.name) || /^\d+$/.test(input.name)) {
        throw new ValidationError(`invalid endpoint name "${input.name}": use DNS labels (letters, digits, "_", "-"; dots between labels), not only digits`)
      }
    }
    checkedAliases(input.aliases)
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      // external endpoints are named cluster-wide: their duplicate check needs the store's answer
      const guess = attempt === 0 && this.local !== undefined && !ext
      try {
        const record = await this.tryConnect(input, node, sandboxIfnames, requested, guess ? this.local! : this.kv)
        if (record) return record
      } catch (e) {
        if (!guess) throw e // the mirror may be behind: only the store's answer refuses a connect
        continue
      }
      // the address went to someone else, or the network changed: re-read and retry
      if (!guess) await Bun.sleep(Math.random() * 5 * (attempt + 1))
    }
    throw new ConflictError(`could not allocate an address in ${input.network}: too much concurrent change, try again`)
  }

  /** One allocation attempt from the given reads; undefined when the transaction lost a race. */
  private async tryConnect(
    input: ConnectInput,
    node: string,
    sandboxIfnames: (sandbox: string) => Set<string>,
    requested: string | undefined,
    from: KvReader,
  ): Promise<EndpointRecord | undefined> {
    const ext = input.external
    const { record: net, modifyIndex } = await this.resolveNetwork(input.network, from)
    if (net.removing) throw new NotFoundError(`network ${net.name} is being removed`, 'network_not_found')
    const subnet = parseCidr(net.subnet)
    const [eps, ipam] = await Promise.all([this.endpoints(net.id, from), from.list(keys.ipamOf(net.id))])
    const name = ext ? ext.name : (input.name ?? input.sandbox!)
    const aliases = checkedAliases(input.aliases)
    if (eps.some((e) => (ext ? e.external && e.name === name : e.node === node && (e.name === name || e.sandbox === input.sandbox)))) {
      throw new ConflictError(`endpoint ${name} is already connected to network ${net.name}`, 'endpoint_exists')
    }
    const taken = new Set(ipam.map((r) => r.key.slice(keys.ipamOf(net.id).length)))
    let ip: string
    if (requested) {
      assertHostAddress(requested, subnet, 'ip')
      if (requested === net.gateway) throw new ConflictError(`address ${requested} is the gateway of ${net.name}`, 'ip_taken')
      if (taken.has(requested)) throw new ConflictError(`address ${requested} is already in use in network ${net.name}`, 'ip_taken')
      ip = requested
    } else {
      const range = net.ipRange ? parseCidr(net.ipRange) : undefined
      const free = nextFreeAddress(subnet, net.gateway, taken, range)
      if (!free) throw new ConflictError(`network ${net.name} has no free address left in ${net.ipRange ?? net.subnet}`, 'pool_exhausted')
      ip = free
    }
    const id = newId()
    let ifname: string | undefined
    if (!ext) {
      const used = sandboxIfnames(input.sandbox!)
      let n = 0
      while (used.has(`eth${n}`)) n++
      ifname = `eth${n}`
    }
    const record: EndpointRecord = {
      id,
      networkId: net.id,
      name,
      ...(aliases?.length ? { aliases } : {}),
      ip,
      mac: ext ? parseMac(ext.mac) : macFromIp(ip),
      ...(ext ? { vtep: parseIPv4(ext.vtep, 'vtep') } : { node, sandbox: input.sandbox!, ifname }),
      external: !!ext,
      created: new Date().toISOString(),
    }
    try {
      await this.kv.txn([
        { verb: 'check-index', key: keys.network(net.id), index: modifyIndex },
        { verb: 'cas', key: keys.ipam(net.id, ip), value: id, index: 0n },
        { verb: 'cas', key: keys.endpoint(net.id, id), value: json(record), index: 0n },
      ])
      return record
    } catch (e) {
      if (!isTxnError(e)) throw e
      if (failedOps(e).has(1) && requested) {
        throw new ConflictError(`address ${requested} is already in use in network ${net.name}`, 'ip_taken')
      }
      return undefined
    }
  }

  /** Disconnect by sandbox (on `node`) or by external endpoint name. */
  async disconnect(networkRef: string, nameOrSandbox: string, node: string): Promise<EndpointRecord> {
    const { record: net } = await this.resolveNetwork(networkRef)
    const eps = await this.endpoints(net.id)
    const ep =
      eps.find((e) => e.name === nameOrSandbox && (e.external || e.node === node)) ??
      eps.find((e) => !e.external && e.node === node && e.sandbox === nameOrSandbox) ??
      eps.find((e) => e.id.startsWith(nameOrSandbox) && nameOrSandbox.length >= 6)
    if (!ep) throw new NotFoundError(`no endpoint ${nameOrSandbox} in network ${net.name}`, 'endpoint_not_found')
    if (!ep.external && ep.node !== node) {
      throw new ValidationError(`endpoint ${nameOrSandbox} belongs to node ${ep.node}: disconnect it there`)
    }
    await this.kv.txn([
      { verb: 'delete', key: keys.endpoint(net.id, ep.id) },
      { verb: 'delete', key: keys.ipam(net.id, ep.ip) },
    ])
    return ep
  }

  /** Write back endpoint records this node still has but the store lost (re-announce). */
  async reannounce(records: EndpointRecord[]): Promise<number> {
    let written = 0
    for (const r of records) {
      try {
        await this.kv.txn([
          { verb: 'cas', key: keys.ipam(r.networkId, r.ip), value: r.id, index: 0n },
          { verb: 'cas', key: keys.endpoint(r.networkId, r.id), value: json(r), index: 0n },
        ])
        written++
      } catch (e) {
        if (!isTxnError(e)) throw e // already there (the usual case), or the address went elsewhere
      }
    }
    return written
  }
}

export { ROOT }
