// Cluster writes: create/remove networks, connect/disconnect endpoints. Every change is one
// cluster-store transaction guarded by compare-and-set, so a half-made network never exists
// and two hosts never hand out the same name, VNI or address. Validation happens before any
// write: bad input changes nothing. Only the ClusterStore interface is used (no Consul here).
import { randomBytes } from 'node:crypto'
import {
  ConflictError,
  NotFoundError,
  OutcomeUnknownError,
  StoreUnreachableError,
  ValidationError,
} from '../errors/index.ts'
import type { ClusterStore, StoreEntry, StoreOp, TxnOutcome } from '../store/index.ts'
import {
  assertHostAddress,
  assertIfname,
  assertVni,
  ipInSubnet,
  macFromIp,
  parseCidr,
  parseIPv4,
  parseMac,
  type Cidr,
} from '../net/index.ts'
import {
  nextDefaultSubnet,
  nextFreeAddress,
  nextFreeVni,
  defaultGateway,
  passedOver,
  subnetsOverlap,
} from './ipam.ts'
import { keys, ROOT } from './keys.ts'
import { isNodeName, NODE_NAME_RULE } from '../util/names.ts'
import {
  EndpointRecord,
  NetworkRecord,
  NodeRecord,
  parsedOnce,
  type PublishedPortRecord,
} from './records.ts'
import { unusableSubnetReason, unusableVtepReason } from './usable.ts'
import { checkPublished, duplicatePort, formatPublished, portKey } from '../egress/index.ts'

/** Reads by prefix: from the cluster store (consistent) or from an agent's local mirror. */
export interface StoreReader {
  list(prefix: string): Promise<StoreEntry[]>
}

export interface CreateNetworkInput {
  name: string
  subnet?: string
  gateway?: string
  ipRange?: string
  vni?: number
  mtu?: number
  /** --internal: no way out. */
  internal?: boolean
  labels?: Record<string, string>
  options?: Record<string, string>
}

export interface ConnectInput {
  network: string
  /** Container endpoint: the sandbox on this node. */
  sandbox?: string
  /** Requested address (Docker's --ip). */
  ip?: string
  /** Ports to publish on this node (Docker's -p). */
  publish?: PublishedPortRecord[]
  /** External endpoint: name, MAC and VTEP of an address behind a non-weft VTEP. */
  external?: { name: string; mac: string; vtep: string }
  /** Interface name inside the sandbox (default: the lowest free ethN). */
  ifname?: string
  /** The name it resolves by in the network (default: the sandbox's ip-netns name). */
  name?: string
  /** More names it resolves by in the network (Docker's --network-alias). */
  aliases?: string[]
}

/** What a connect knows of the sandbox it plumbs into (the agent looks at the namespace). */
export interface SandboxFacts {
  /** Whether this node's endpoint record is plumbed into the same namespace as the sandbox being connected. */
  same?(e: EndpointRecord): boolean
  /** Whether an interface of this name exists in the sandbox now (one weft did not make counts too). */
  hasInterface?(ifname: string): boolean
}

/** A DNS name: dot-separated labels of letters, digits, "_" and inner "-" (names resolve in the network). */
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/
const MAX_ALIASES = 32

/** The aliases of a connect, checked and without repeats (DNS names compare without case). */
function checkedAliases(aliases: unknown): string[] | undefined {
  if (aliases === undefined) return undefined
  if (!Array.isArray(aliases) || aliases.length > MAX_ALIASES)
    throw new ValidationError(`aliases must be a list of at most ${MAX_ALIASES} names`)
  const seen = new Set<string>()
  const out: string[] = []
  for (const a of aliases) {
    if (typeof a !== 'string' || !DNS_NAME.test(a) || /^\d+$/.test(a)) {
      throw new ValidationError(
        `invalid alias "${a}": use DNS labels (letters, digits, "_", "-"; dots between labels), not only digits`,
      )
    }
    if (!seen.has(a.toLowerCase())) out.push(a)
    seen.add(a.toLowerCase())
  }
  return out
}

const MAX_TRIES = 64
/**
 * At most this many endpoints in a network for a connect's guess to prove its address in its
 * own transaction (one check per lower address; a transaction holds 64 ops): above it the
 * guess reads the network's address keys from the store first, one round trip more.
 */
const MAX_GUESS_CHECKS = 40

export const newId = () => randomBytes(32).toString('hex')

const json = (o: unknown) => JSON.stringify(o)
const networkOf = parsedOnce(NetworkRecord)
const endpointOf = parsedOnce(EndpointRecord)
/**
 * Network rows by record name, kept for the last list seen: the mirror hands out the same entry
 * objects until they change (in a new array each time), so comparing entries says whether
 * the index still holds.
 */
class NetworkNames {
  private rows: StoreEntry[] = []
  private index = new Map<string, StoreEntry>()

  row(rows: StoreEntry[], name: string): StoreEntry | undefined {
    if (rows.length !== this.rows.length || rows.some((r, i) => r !== this.rows[i])) {
      this.index = new Map()
      for (const r of rows) {
        let named: string
        try {
          named = networkOf(r).name
        } catch {
          continue // a broken record names nothing here; the slow path reports it
        }
        if (!this.index.has(named)) this.index.set(named, r)
      }
      this.rows = rows
    }
    return this.index.get(name)
  }
}
const failedOps = (o: TxnOutcome) => new Set(o.ok ? [] : o.failed)
/** A network record as written back when a removal is called off. */
const unmarked = (r: NetworkRecord): NetworkRecord => {
  const { removing: _, ...rest } = r
  return rest
}

export class ClusterOps {
  private readonly names = new NetworkNames()
  /** Addresses of this agent's connects whose transaction is under way, by network id. */
  private readonly inFlight = new Map<string, Set<string>>()

  constructor(
    private readonly kv: ClusterStore,
    /** MTU for networks created without --mtu (underlay MTU - 50). */
    private readonly defaultMtu: number,
    /**
     * The agent's mirror of the tree, possibly a little behind the store. A connect tries it
     * first (no read round trips); the transaction's CAS checks catch a stale guess, and the
     * retry reads the store. Nothing is refused on the mirror's word alone.
     */
    private readonly local?: StoreReader,
    /** Attempts of an unmark (a removal called off) before giving up; each waits a little longer. */
    private readonly unmarkTries = 5,
  ) {}

  async networks(
    from: StoreReader = this.kv,
  ): Promise<{ record: NetworkRecord; modifyIndex: bigint }[]> {
    const rows = await from.list(keys.networks())
    return rows.map((r) => ({
      record: NetworkRecord.parse(JSON.parse(r.value)),
      modifyIndex: r.modifyIndex,
    }))
  }

  /** Find a network by exact name, full id, or unique id prefix (as Docker does). */
  async resolveNetwork(
    ref: string,
    from: StoreReader = this.kv,
  ): Promise<{ record: NetworkRecord; modifyIndex: bigint }> {
    if (typeof ref !== 'string' || ref.length === 0)
      throw new ValidationError('network name or id is required')
    // the store by name: two one-key reads, not the list of every network (a connect's retry
    // after a lost race at 2,000 networks read ~700 KB); a name it lacks, and an id (Docker's
    // way), go the way below
    if (from === this.kv && isNodeName(ref) && !/^[0-9a-f]{64}$/.test(ref)) {
      const id = await this.kv.get(keys.name(ref))
      const row = id && (await this.kv.get(keys.network(id.value)))
      const record = row && NetworkRecord.parse(JSON.parse(row.value))
      if (record && record.name === ref) return { record, modifyIndex: row.modifyIndex }
    }
    const rows = await from.list(keys.networks())
    // by name: from the mirror through an index built once per list it hands out; from the
    // store (a new list each time) validating only the record that names it, since at 1,000
    // hosts a connect would parse 2,000 network records (the rest below: other spellings, ids)
    if (from !== this.kv) {
      const named = this.names.row(rows, ref)
      if (named) return { record: networkOf(named), modifyIndex: named.modifyIndex }
    } else {
      const needle = `"name":${JSON.stringify(ref)}`
      for (const r of rows) {
        if (!r.value.includes(needle)) continue
        const record = NetworkRecord.parse(JSON.parse(r.value))
        if (record.name === ref) return { record, modifyIndex: r.modifyIndex }
      }
    }
    const all = rows.map((r) => ({
      record: NetworkRecord.parse(JSON.parse(r.value)),
      modifyIndex: r.modifyIndex,
    }))
    const byName = all.find((n) => n.record.name === ref)
    if (byName) return byName
    const byId = all.filter((n) => n.record.id.startsWith(ref.toLowerCase()))
    if (byId.length === 1) return byId[0]!
    if (byId.length > 1)
      throw new ValidationError(`network id prefix "${ref}" is ambiguous: use more characters`)
    throw new NotFoundError(
      `network ${ref} not found: see \`weft network ls\``,
      'network_not_found',
    )
  }

  /** Endpoints of one network, or of every network. */
  async endpoints(networkId?: string, from: StoreReader = this.kv): Promise<EndpointRecord[]> {
    const rows = await from.list(networkId ? keys.endpointsOf(networkId) : keys.endpoints())
    return rows.map((r) => EndpointRecord.parse(JSON.parse(r.value)))
  }

  async createNetwork(input: CreateNetworkInput): Promise<NetworkRecord> {
    const name = input.name
    if (typeof name !== 'string' || !isNodeName(name)) {
      // network and external endpoint names follow the node-name rule (they name store keys too)
      throw new ValidationError(`invalid network name "${name}": use ${NODE_NAME_RULE}`)
    }
    const subnetIn = input.subnet === undefined ? undefined : parseCidr(input.subnet, 'subnet')
    // every door refuses an address space that cannot work, not only the API's schema
    const unusable = input.subnet === undefined ? undefined : unusableSubnetReason(input.subnet)
    if (unusable) throw new ValidationError(unusable)
    if (subnetIn && subnetIn.prefixLen > 30)
      throw new ValidationError(`subnet ${subnetIn.cidr} is too small: use /30 or larger`)
    if (input.vni !== undefined) assertVni(input.vni)
    if (
      input.mtu !== undefined &&
      (!Number.isInteger(input.mtu) || input.mtu < 576 || input.mtu > this.defaultMtu)
    ) {
      throw new ValidationError(
        `mtu ${input.mtu} is out of range (576..${this.defaultMtu}: the underlay MTU minus 50 bytes of VXLAN)`,
      )
    }
    if (input.gateway !== undefined && !subnetIn)
      throw new ValidationError('--gateway needs --subnet')
    if (input.ipRange !== undefined && !subnetIn)
      throw new ValidationError('--ip-range needs --subnet')
    const range = input.ipRange === undefined ? undefined : parseCidr(input.ipRange, 'ip-range')
    if (
      range &&
      subnetIn &&
      !(ipInSubnet(range.network, subnetIn) && ipInSubnet(range.broadcast, subnetIn))
    ) {
      throw new ValidationError(`ip-range ${range.cidr} is not inside the subnet ${subnetIn.cidr}`)
    }
    const gateway = input.gateway === undefined ? undefined : parseIPv4(input.gateway, 'gateway')
    if (gateway && subnetIn) assertHostAddress(gateway, subnetIn, 'gateway')
    if (input.internal !== undefined && typeof input.internal !== 'boolean')
      throw new ValidationError('internal must be true or false')
    for (const [k, v] of Object.entries({ ...input.labels, ...input.options })) {
      if (typeof v !== 'string' || k.length === 0)
        throw new ValidationError(`label/option "${k}" needs a string value`)
    }

    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const [all, seq] = await Promise.all([this.networks(), this.kv.get(keys.networkSeq())])
      if (all.some((n) => n.record.name === name)) {
        throw new ConflictError(`network with name ${name} already exists`, 'name_taken')
      }
      const used = all.map((n) => parseCidr(n.record.subnet))
      const subnet: Cidr | undefined = subnetIn ?? nextDefaultSubnet(used)
      if (!subnet) throw new ConflictError('no free default subnet in 10.0.0.0/16: pass --subnet')
      const clash = all.find((n) => subnetsOverlap(parseCidr(n.record.subnet), subnet))
      if (clash) {
        throw new ConflictError(
          `subnet ${subnet.cidr} overlaps network ${clash.record.name} (${clash.record.subnet})`,
          'subnet_overlap',
        )
      }
      const usedVnis = new Set(all.map((n) => n.record.vni))
      if (input.vni !== undefined && usedVnis.has(input.vni)) {
        const owner = all.find((n) => n.record.vni === input.vni)!
        throw new ConflictError(
          `VNI ${input.vni} is taken by network ${owner.record.name}`,
          'vni_taken',
        )
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
        ...(input.internal ? { internal: true } : {}),
        labels: { ...input.labels },
        options: { ...input.options },
        created: new Date().toISOString(),
      }
      const outcome = await this.writeNetwork(record, [
        {
          op: 'put',
          key: keys.networkSeq(),
          value: String(Date.now()),
          ifRevision: seq?.modifyIndex ?? 0n,
        },
        { op: 'put', key: keys.name(name), value: record.id, ifRevision: 0n },
        { op: 'put', key: keys.vni(record.vni), value: record.id, ifRevision: 0n },
        { op: 'put', key: keys.network(record.id), value: json(record), ifRevision: 0n },
      ])
      if (outcome.ok) return record
      const failed = failedOps(outcome)
      if (failed.has(1))
        throw new ConflictError(`network with name ${name} already exists`, 'name_taken')
      if (failed.has(2) && input.vni !== undefined)
        throw new ConflictError(`VNI ${input.vni} is taken`, 'vni_taken')
      // lost the race on netseq (another network was created/removed): re-read and retry
    }
    throw new ConflictError(
      `could not create network ${name}: too much concurrent change, try again`,
    )
  }

  /** The create transaction; when its answer is lost, the record read back decides. */
  private async writeNetwork(record: NetworkRecord, ops: StoreOp[]): Promise<TxnOutcome> {
    try {
      return await this.kv.txn(ops)
    } catch (e) {
      if (!(e instanceof OutcomeUnknownError)) throw e
      const back = await this.kv.get(keys.network(record.id)).catch(() => 'unknown' as const)
      if (back === 'unknown') {
        throw new OutcomeUnknownError(
          `create network ${record.name}: the store did not answer, the network may or may not exist: check \`weft network ls\` once the store is back (${e.message})`,
          { cause: e },
          record,
        )
      }
      if (back) return { ok: true, written: [back] }
      throw new StoreUnreachableError(
        `create network ${record.name} failed (nothing changed): ${e.message}`,
        { cause: e },
      )
    }
  }

  async removeNetwork(ref: string): Promise<NetworkRecord> {
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const { record, modifyIndex } = await this.resolveNetwork(ref)
      const key = keys.network(record.id)
      // 1. mark it: from now on connects fail their check on the network key
      const markedIndex = await this.markForRemoval(record, modifyIndex)
      if (markedIndex === undefined) continue
      // 2. refuse while endpoints are attached (and unmark)
      const eps = await this.endpoints(record.id).catch(async (e: unknown) => {
        await this.unmark(record, markedIndex, e)
        throw e
      })
      if (eps.length > 0) {
        await this.unmark(record, markedIndex)
        const names = eps
          .slice(0, 5)
          .map((e) => e.name)
          .join(', ')
        throw new ConflictError(
          `network ${record.name} has active endpoints (${names}${eps.length > 5 ? ', …' : ''}): disconnect them first`,
          'network_in_use',
        )
      }
      // 3. delete it and everything keyed by it, in one transaction
      let done: TxnOutcome
      try {
        const seq = await this.kv.get(keys.networkSeq())
        done = await this.kv.txn([
          {
            op: 'put',
            key: keys.networkSeq(),
            value: String(Date.now()),
            ifRevision: seq?.modifyIndex ?? 0n,
          },
          { op: 'delete', key, ifRevision: markedIndex },
          { op: 'delete', key: keys.name(record.name) },
          { op: 'delete', key: keys.vni(record.vni) },
          { op: 'delete-prefix', prefix: keys.ipamOf(record.id) },
          { op: 'delete-prefix', prefix: keys.endpointsOf(record.id) },
        ])
      } catch (e) {
        if (!(e instanceof StoreUnreachableError)) throw e
        // the delete may have landed: if the record is gone, the removal happened
        if (
          e instanceof OutcomeUnknownError &&
          (await this.kv.get(key).catch(() => 'unknown')) === undefined
        )
          return record
        await this.unmark(record, markedIndex, e)
        throw new StoreUnreachableError(
          `network ${record.name} was not removed (nothing changed): ${e.message}`,
          { cause: e },
        )
      }
      if (done.ok) return record
      // lost the race on netseq: lift our mark before trying again, so a new mark's CAS holds
      await this.unmark(record, markedIndex)
    }
    throw new ConflictError(
      `could not remove network ${ref}: too much concurrent change, try again`,
    )
  }

  /** The revision of the marked record; undefined when the CAS lost (re-read and retry). */
  private async markForRemoval(
    record: NetworkRecord,
    modifyIndex: bigint,
  ): Promise<bigint | undefined> {
    const key = keys.network(record.id)
    try {
      const mark = await this.kv.txn([
        { op: 'put', key, value: json({ ...record, removing: true }), ifRevision: modifyIndex },
      ])
      if (!mark.ok) return undefined
      const rev = mark.written.find((w) => w.key === key)?.modifyIndex
      if (rev === undefined)
        throw new Error(`the store answered the mark of ${key} without its new revision`)
      return rev
    } catch (e) {
      if (!(e instanceof OutcomeUnknownError)) throw e
      // the answer was lost: the record read back says whether the mark landed
      const back = await this.kv.get(key).catch(() => 'unknown' as const)
      if (back === 'unknown') {
        throw new OutcomeUnknownError(
          `remove network ${record.name}: the store did not answer (${e.message}); the network may be left marked "being removed": ` +
            `run \`weft network rm ${record.name}\` again once the store is back`,
          { cause: e },
        )
      }
      if (
        back &&
        back.modifyIndex !== modifyIndex &&
        NetworkRecord.safeParse(JSON.parse(back.value)).data?.removing
      )
        return back.modifyIndex
      if (back?.modifyIndex === modifyIndex)
        throw new StoreUnreachableError(
          `network ${record.name} was not removed (nothing changed): ${e.message}`,
          { cause: e },
        )
      return undefined // changed by someone else meanwhile: re-read
    }
  }

  /**
   * Call a removal off: write the record back without its mark, retrying while the store does
   * not answer. A mark that cannot be lifted is reported, never swallowed: connects to the
   * network fail until a later `network rm` finishes or lifts it.
   */
  private async unmark(record: NetworkRecord, markedIndex: bigint, why?: unknown): Promise<void> {
    const key = keys.network(record.id)
    let last: unknown
    for (let attempt = 0; attempt < this.unmarkTries; attempt++) {
      try {
        // a lost CAS means someone else changed the record since our mark (another rm removed
        // or re-marked it): theirs stands
        await this.kv.txn([
          { op: 'put', key, value: json(unmarked(record)), ifRevision: markedIndex },
        ])
        return
      } catch (e) {
        if (!(e instanceof StoreUnreachableError)) throw e
        last = e
        // an unmark whose answer was lost may have landed: the CAS tells on the next try
        await Bun.sleep(50 * 2 ** attempt)
      }
    }
    const because = why instanceof Error ? ` (after: ${why.message})` : ''
    throw new StoreUnreachableError(
      `network ${record.name} stays marked "being removed"${because}: lifting the mark failed: ${(last as Error).message}; ` +
        `connects to it fail until \`weft network rm ${record.name}\` is run again (it removes the network or lifts the mark)`,
      { cause: last },
    )
  }

  /**
   * Connect an endpoint: allocate its address (or take the requested one) with CAS, and
   * write its record, in one transaction that also checks the network is unchanged.
   */
  async connect(
    input: ConnectInput,
    node: string,
    sandboxIfnames: (sandbox: string) => Set<string>,
    facts: SandboxFacts = {},
  ): Promise<EndpointRecord> {
    const requested = input.ip === undefined ? undefined : parseIPv4(input.ip, 'ip')
    const ext = input.external
    if (input.ifname !== undefined) {
      if (ext)
        throw new ValidationError(
          'ifname is for sandboxes: an external endpoint has no interface weft makes',
        )
      assertIfname(input.ifname, 'interface name')
    }
    if (ext) {
      if (typeof ext.name !== 'string' || !isNodeName(ext.name))
        throw new ValidationError(`invalid endpoint name "${ext.name}": use ${NODE_NAME_RULE}`)
      parseMac(ext.mac)
      parseIPv4(ext.vtep, 'vtep')
      if (!requested) throw new ValidationError('an external endpoint needs --ip')
      const why = unusableVtepReason(ext.vtep, await this.nodeAddresses())
      if (why) throw new ValidationError(why)
    } else if (!input.sandbox) {
      throw new ValidationError(
        'sandbox is required (netns name, /proc/PID/ns/net, or a netns path)',
      )
    }
    if (input.publish !== undefined) {
      if (ext)
        throw new ValidationError(
          'an external endpoint cannot publish ports: its host is not a weft node',
        )
      input = { ...input, publish: input.publish.map(checkPublished) }
      const dup = duplicatePort(input.publish!)
      if (dup) throw new ValidationError(`host port ${portKey(dup)} is published twice`)
    }
    if (input.name !== undefined) {
      if (ext) throw new ValidationError('an external endpoint is named by external.name, not name')
      if (
        typeof input.name !== 'string' ||
        !isNodeName(input.name) ||
        !DNS_NAME.test(input.name) ||
        /^\d+$/.test(input.name)
      ) {
        throw new ValidationError(
          `invalid endpoint name "${input.name}": use DNS labels (letters, digits, "_", "-"; dots between labels), not only digits`,
        )
      }
    }
    checkedAliases(input.aliases)
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      // external endpoints are named cluster-wide: their duplicate check needs the store's answer
      const guess = attempt === 0 && this.local !== undefined && !ext
      try {
        const record = await this.tryConnect(
          input,
          node,
          sandboxIfnames,
          facts,
          requested,
          guess ? this.local! : this.kv,
        )
        if (record) return record
      } catch (e) {
        // the mirror may be behind: only the store's answer refuses a connect; a store that
        // does not answer (or a write whose outcome is unknown) is never retried blindly
        if (!guess || e instanceof StoreUnreachableError) throw e
        continue
      }
      // the address went to someone else, or the network changed: re-read and retry
      if (!guess) await Bun.sleep(Math.random() * 5 * (attempt + 1))
    }
    throw new ConflictError(
      `could not allocate an address in ${input.network}: too much concurrent change, try again`,
    )
  }

  /** Advertise address by node name, from the store (a weft node is no external VTEP). */
  private async nodeAddresses(): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for (const row of await this.kv.list(keys.nodes())) {
      let value: unknown
      try {
        value = JSON.parse(row.value)
      } catch {
        continue // a broken node record owns no address (the mirror reports invalid records)
      }
      const rec = NodeRecord.safeParse(value)
      if (rec.success) out.set(rec.data.name, rec.data.advertise)
    }
    return out
  }

  /** One allocation attempt from the given reads; undefined when the transaction lost a race. */
  private async tryConnect(
    input: ConnectInput,
    node: string,
    sandboxIfnames: (sandbox: string) => Set<string>,
    facts: SandboxFacts,
    requested: string | undefined,
    from: StoreReader,
  ): Promise<EndpointRecord | undefined> {
    const ext = input.external
    const { record: net, modifyIndex } = await this.resolveNetwork(input.network, from)
    if (net.removing) {
      throw new NotFoundError(
        `network ${net.name} is being removed (if no \`weft network rm\` is running, run it again: it removes the network or lifts the mark)`,
        'network_not_found',
      )
    }
    const subnet = parseCidr(net.subnet)
    // The store's address keys, except for a guess small enough to prove itself: that takes the
    // addresses its endpoints hold and checks, in the transaction, that each address it passes
    // over is still held (a release the mirror has not heard of fails the check, and the retry
    // reads the store): the address is the lowest free one at commit, as with a read before.
    const guess = from !== this.kv
    const [rows, ipamRead] = await Promise.all([
      from.list(keys.endpointsOf(net.id)),
      guess ? undefined : this.kv.list(keys.ipamOf(net.id)),
    ])
    const eps = rows.map(endpointOf)
    const proving = guess && rows.length <= MAX_GUESS_CHECKS
    const ipam = ipamRead ?? (proving ? undefined : await this.kv.list(keys.ipamOf(net.id)))
    const name = ext ? ext.name : (input.name ?? input.sandbox!)
    const aliases = checkedAliases(input.aliases)
    if (
      eps.some((e) =>
        ext
          ? e.external && e.name === name
          : e.node === node && (e.name === name || e.sandbox === input.sandbox),
      )
    ) {
      throw new ConflictError(
        `endpoint ${name} is already connected to network ${net.name}`,
        'endpoint_exists',
      )
    }
    // one namespace, one endpoint per network, however the sandbox is named
    const twin =
      ext || !facts.same
        ? undefined
        : eps.find((e) => !e.external && e.node === node && facts.same!(e))
    if (twin) {
      throw new ConflictError(
        `sandbox ${name} is already connected to network ${net.name} as ${twin.name} (the same network namespace): disconnect that first`,
        'endpoint_exists',
      )
    }
    const portOps = input.publish?.length ? await this.portOps(net, input.publish, node, from) : []
    const taken = new Set(
      ipam ? ipam.map((r) => r.key.slice(keys.ipamOf(net.id).length)) : eps.map((e) => e.ip),
    )
    const range = net.ipRange ? parseCidr(net.ipRange) : undefined
    let ip: string
    if (requested) {
      assertHostAddress(requested, subnet, 'ip')
      if (requested === net.gateway)
        throw new ConflictError(`address ${requested} is the gateway of ${net.name}`, 'ip_taken')
      if (taken.has(requested))
        throw new ConflictError(
          `address ${requested} is already in use in network ${net.name}`,
          'ip_taken',
        )
      ip = requested
    } else {
      // addresses this agent's connects in flight are about to take: a concurrent connect on the
      // same network takes the next one instead of losing the race for it and retrying
      const claimed = new Set(taken)
      for (const a of this.inFlight.get(net.id) ?? []) claimed.add(a)
      const free = nextFreeAddress(subnet, net.gateway, claimed, range)
      if (!free)
        throw new ConflictError(
          `network ${net.name} has no free address left in ${net.ipRange ?? net.subnet}`,
          'pool_exhausted',
        )
      ip = free
    }
    // the proof of a guessed lowest address: each address below it still held by its endpoint
    // (address key and endpoint record come and go together, in one transaction)
    const held: StoreOp[] = []
    if (proving && !requested) {
      const seen = new Set<string>()
      for (let i = 0; i < rows.length; i++) {
        const e = eps[i]!
        if (seen.has(e.ip) || !passedOver(e.ip, ip, subnet, net.gateway, range)) continue
        seen.add(e.ip)
        held.push({ op: 'check', key: rows[i]!.key, revision: rows[i]!.modifyIndex })
      }
    }
    const id = newId()
    let ifname: string | undefined
    if (!ext) ifname = this.pickIfname(input, sandboxIfnames(input.sandbox!), facts)
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
      ...(input.publish?.length ? { ports: input.publish } : {}),
    }
    let outcome: TxnOutcome
    const flying = this.inFlight.get(net.id) ?? new Set<string>()
    this.inFlight.set(net.id, flying.add(ip))
    try {
      outcome = await this.kv.txn([
        { op: 'check', key: keys.network(net.id), revision: modifyIndex },
        { op: 'put', key: keys.ipam(net.id, ip), value: id, ifRevision: 0n },
        { op: 'put', key: keys.endpoint(net.id, id), value: json(record), ifRevision: 0n },
        ...portOps.map((o) => ({
          op: 'put' as const,
          key: o.key,
          value: `${net.id}/${id}`,
          ifRevision: o.ifRevision,
        })),
        ...held,
      ])
    } catch (e) {
      // the caller must find out whether this record exists (and undo or keep it)
      if (e instanceof OutcomeUnknownError)
        throw new OutcomeUnknownError(e.message, { cause: e }, record)
      throw e
    } finally {
      // committed: the view has it now (own writes); lost: free for the next guess
      flying.delete(ip)
      if (flying.size === 0) this.inFlight.delete(net.id)
    }
    if (outcome.ok) return record
    if (failedOps(outcome).has(1) && requested) {
      throw new ConflictError(
        `address ${requested} is already in use in network ${net.name}`,
        'ip_taken',
      )
    }
    return undefined
  }

  /**
   * Conditional puts claiming each published port on `node` (value filled in by the caller). A port held
   * by an endpoint that still exists is refused with 409; one left by an endpoint that is gone
   * (removed by another path than disconnect) is taken over at its index.
   */
  private async portOps(
    net: NetworkRecord,
    ports: PublishedPortRecord[],
    node: string,
    from: StoreReader,
  ): Promise<{ key: string; ifRevision: bigint }[]> {
    if (net.internal)
      throw new ValidationError(`network ${net.name} is internal: nothing can be published from it`)
    const held = new Map((await from.list(keys.portsOf(node))).map((r) => [r.key, r]))
    const ops: { key: string; ifRevision: bigint }[] = []
    for (const p of ports) {
      const key = keys.port(node, p.proto, p.hostPort)
      const cur = held.get(key)
      if (cur) {
        const [networkId, endpointId] = cur.value.split('/')
        const owner =
          networkId && endpointId ? await from.list(keys.endpoint(networkId, endpointId)) : []
        if (owner.length) {
          const rec = EndpointRecord.safeParse(JSON.parse(owner[0]!.value))
          const who = rec.success ? `${rec.data.name} (${rec.data.ip})` : endpointId
          throw new ConflictError(
            `host port ${portKey(p)} is already published on node ${node} (by ${who}): ${formatPublished(p)} cannot be`,
            'port_taken',
          )
        }
      }
      ops.push({ key, ifRevision: cur?.modifyIndex ?? 0n })
    }
    return ops
  }

  /**
   * The sandbox's interface: the caller's choice, or the lowest ethN neither weft gave in this
   * sandbox nor anyone made there (a sandbox may come with an eth0 of its own, as Docker's do).
   */
  private pickIfname(input: ConnectInput, weftNames: Set<string>, facts: SandboxFacts): string {
    const taken = (n: string) => weftNames.has(n) || facts.hasInterface?.(n) === true
    if (input.ifname !== undefined) {
      if (taken(input.ifname)) {
        throw new ConflictError(
          `interface ${input.ifname} already exists in sandbox ${input.sandbox}: choose another --ifname`,
          'ifname_taken',
        )
      }
      return input.ifname
    }
    for (let n = 0; n < 10_000; n++) if (!taken(`eth${n}`)) return `eth${n}`
    throw new ConflictError(
      `sandbox ${input.sandbox} has no free ethN interface name: pass --ifname`,
      'ifname_taken',
    )
  }

  /**
   * Disconnect by sandbox (on `node`) or by external endpoint name; `same` also finds this
   * node's endpoint plumbed into the same namespace under another name.
   */
  async disconnect(
    networkRef: string,
    nameOrSandbox: string,
    node: string,
    same?: (e: EndpointRecord) => boolean,
  ): Promise<EndpointRecord> {
    const { record: net } = await this.resolveNetwork(networkRef)
    const eps = await this.endpoints(net.id)
    const ep =
      eps.find((e) => e.name === nameOrSandbox && (e.external || e.node === node)) ??
      eps.find((e) => !e.external && e.node === node && e.sandbox === nameOrSandbox) ??
      (same ? eps.find((e) => !e.external && e.node === node && same(e)) : undefined) ??
      eps.find((e) => e.id.startsWith(nameOrSandbox) && nameOrSandbox.length >= 6)
    if (!ep)
      throw new NotFoundError(
        `no endpoint ${nameOrSandbox} in network ${net.name}`,
        'endpoint_not_found',
      )
    if (!ep.external && ep.node !== node) {
      throw new ValidationError(
        `endpoint ${nameOrSandbox} belongs to node ${ep.node}: disconnect it there`,
      )
    }
    if (ep.plumbing === 'docker') {
      throw new ValidationError(
        `endpoint ${ep.name} is a Docker container's: disconnect it with \`docker network disconnect ${net.name} ${ep.name}\``,
      )
    }
    await this.kv.txn([
      { op: 'delete', key: keys.endpoint(net.id, ep.id) },
      { op: 'delete', key: keys.ipam(net.id, ep.ip) },
      ...(ep.node
        ? (ep.ports ?? []).map((p) => ({
            op: 'delete' as const,
            key: keys.port(ep.node!, p.proto, p.hostPort),
          }))
        : []),
    ])
    return ep
  }

  /** The stored entry of an endpoint record; undefined when it does not exist. */
  findEndpoint(rec: Pick<EndpointRecord, 'id' | 'networkId'>): Promise<StoreEntry | undefined> {
    return this.kv.get(keys.endpoint(rec.networkId, rec.id))
  }

  /**
   * Remove one endpoint record by id (the undo of a connect). Safe to repeat: the address is
   * released only together with the record it belongs to. 'absent' when there is none (any more).
   */
  async removeEndpoint(
    rec: Pick<EndpointRecord, 'id' | 'networkId' | 'ip'>,
  ): Promise<'removed' | 'absent'> {
    const key = keys.endpoint(rec.networkId, rec.id)
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const cur = await this.kv.get(key)
      if (!cur) return 'absent'
      const out = await this.kv.txn([
        { op: 'delete', key, ifRevision: cur.modifyIndex },
        { op: 'delete', key: keys.ipam(rec.networkId, rec.ip) },
      ])
      if (out.ok) return 'removed'
    }
    throw new ConflictError(
      `could not remove endpoint ${rec.id.slice(0, 12)}: too much concurrent change, try again`,
    )
  }

  /** Write back endpoint records this node still has but the store lost (re-announce). */
  async reannounce(records: EndpointRecord[]): Promise<number> {
    let written = 0
    for (const r of records) {
      const out = await this.kv.txn([
        { op: 'put', key: keys.ipam(r.networkId, r.ip), value: r.id, ifRevision: 0n },
        { op: 'put', key: keys.endpoint(r.networkId, r.id), value: json(r), ifRevision: 0n },
      ])
      // not ok: already there (the usual case), or the address went elsewhere
      if (out.ok) written++
    }
    return written
  }
}

export { ROOT }
