// The host side of the way out and the way in, for the bpf datapath (which calls it): the
// nftables table (./nft.ts) kept in step with the cluster's subnets and this host's published
// ports, IPv4 forwarding, and each endpoint's routes (./routes.ts). BPF decides what goes up to
// the host stack (bpf/lib/way_out.h); this makes the host stack do the right thing with it.
//
// Live restore: a new process adopts the table as it finds it (its published ports are read
// back from the rules) and replaces it only once it knows the cluster's subnets, so a restart
// never opens a window without NAT or without published ports.
import { ConflictError, ValidationError } from '../errors/index.ts'
import { parseCidr, parseIPv4, RtnlSocket } from '../net/index.ts'
import { disableForwarding, enableForwarding } from './forwarding.ts'
import {
  applyTable,
  assertNft,
  readPublished,
  removeTable,
  renderTable,
  type Publication,
  type PublishedCounters,
  type TableState,
} from './nft.ts'
import { checkPublished, duplicatePort, formatPublished, portKey } from './ports.ts'
import { plumbWayOut, type WayOutPlumbing } from './routes.ts'

/** A weft network as the way out sees it (every network of the cluster, not only this host's). */
export interface ClusterSubnet {
  vni: number
  subnet: string
  internal: boolean
}

const pubKey = (vni: number, ip: string) => `${vni}/${ip}`

/** How long one read of the published ports' counters answers further reads. */
const PUBLISHED_READ_REUSE_MS = 250

/** Throws (400) unless every HOST_IP of `ports` is an address of this host. */
export function assertHostAddresses(
  ports: Publication['ports'],
  addresses: () => string[] = hostAddresses,
): void {
  const wanted = ports.map(checkPublished).filter((p) => p.hostIp !== undefined)
  if (!wanted.length) return
  const mine = new Set(addresses())
  const foreign = wanted.find((p) => !mine.has(p.hostIp!))
  if (foreign) {
    throw new ValidationError(
      `cannot publish ${formatPublished(foreign)}: ${foreign.hostIp} is not an address of this host (${[...mine].join(', ')})`,
    )
  }
}

function hostAddresses(): string[] {
  const s = RtnlSocket.open()
  try {
    return s.addresses().map((a) => a.ip)
  } finally {
    s.close()
  }
}

/** What HostEgress does to the kernel (the real calls by default; fakes in root-free tests). */
export interface EgressKernel {
  assertNft(): Promise<void>
  /** True when forwarding was off and is on now. */
  enableForwarding(): boolean
  disableForwarding(): void
  readPublished(): Promise<PublishedCounters[]>
  applyTable(s: TableState): Promise<void>
  /** False when there was no table. */
  removeTable(): Promise<boolean>
  plumbWayOut(p: WayOutPlumbing): void
  /** This host's IPv4 addresses. */
  localAddresses(): string[]
}

const KERNEL: EgressKernel = {
  assertNft,
  enableForwarding,
  disableForwarding,
  readPublished,
  applyTable,
  removeTable,
  plumbWayOut,
  localAddresses: hostAddresses,
}

export class HostEgress {
  private readonly k: EgressKernel

  constructor(kernel: Partial<EgressKernel> = {}) {
    this.k = { ...KERNEL, ...kernel }
  }

  private subnets: ClusterSubnet[] | undefined
  private readonly pubs = new Map<string, Publication>()
  private applied: string | undefined
  private lastRead: { at: number; read: Promise<PublishedCounters[]> } | undefined
  /** This process turned IPv4 forwarding on: its teardown turns it off again. */
  private forwardingTurnedOn = false

  /** Checks `nft`, turns on forwarding, adopts the published ports the kernel holds. */
  async start(): Promise<void> {
    await this.k.assertNft()
    if (this.k.enableForwarding()) this.forwardingTurnedOn = true
    for (const p of await this.k.readPublished()) {
      const k = pubKey(p.vni, p.ip)
      const had = this.pubs.get(k)
      if (had) had.ports.push(p.port)
      else this.pubs.set(k, { vni: p.vni, ip: p.ip, ports: [p.port] })
    }
  }

  /**
   * Every weft subnet of the cluster; the table is (re)written from the first call on, and on
   * every call (the reconciler's resync), so a table changed behind weft's back is put back.
   */
  async setSubnets(subnets: ClusterSubnet[]): Promise<void> {
    this.subnets = subnets.map((s) => ({
      vni: s.vni,
      subnet: parseCidr(s.subnet, `subnet of network ${s.vni}`).cidr,
      internal: !!s.internal,
    }))
    await this.sync(true)
  }

  /**
   * Throws unless the endpoint (vni, ip) may publish `ports` on this host: valid, none twice, and
   * none published by another endpoint (409). Returns them normalised.
   */
  checkPorts(vni: number, ip: string, publish: Publication['ports']): Publication['ports'] {
    const ports = publish.map(checkPublished)
    const dup = duplicatePort(ports)
    if (dup) throw new ValidationError(`port ${portKey(dup)} is published twice by endpoint ${ip}`)
    assertHostAddresses(ports, () => this.k.localAddresses())
    const k = pubKey(vni, parseIPv4(ip))
    for (const [other, pub] of this.pubs) {
      if (other === k) continue
      const clash = pub.ports.find((q) => ports.some((x) => portKey(x) === portKey(q)))
      if (clash) {
        throw new ConflictError(
          `host port ${portKey(clash)} is already published on this host (${formatPublished(clash)} to ${pub.ip})`,
          'port_taken',
        )
      }
    }
    return ports
  }

  /** Route the endpoint's way out and publish its ports (replacing what it published before). */
  async attach(p: WayOutPlumbing & { vni: number; publish: Publication['ports'] }): Promise<void> {
    const ports = this.checkPorts(p.vni, p.ip, p.publish)
    const k = pubKey(p.vni, parseIPv4(p.ip))
    this.k.plumbWayOut(p)
    if (ports.length) this.pubs.set(k, { vni: p.vni, ip: p.ip, ports })
    else this.pubs.delete(k)
    await this.sync()
  }

  /** The endpoint is gone: its ports are unpublished (its routes went with its veth). */
  async detach(vni: number, ip: string): Promise<void> {
    if (this.pubs.delete(pubKey(vni, ip))) await this.sync()
  }

  /** Forget every endpoint of a network (removed from this host). */
  async detachNetwork(vni: number): Promise<void> {
    let changed = false
    for (const [k, p] of this.pubs) if (p.vni === vni) changed = this.pubs.delete(k) || changed
    if (changed) await this.sync()
  }

  /** Published ports with their counters (connections, packets towards the container), as the kernel holds them. */
  published(): Promise<PublishedCounters[]> {
    // nothing published (the table's rules are ours, adopted at start): no `nft` run for the
    // doctor's drop samples and every /metrics scrape
    if (this.subnets && this.pubs.size === 0) return Promise.resolve([])
    // one `nft` run serves the reads of one moment (a /metrics scrape asks once per family)
    const now = Date.now()
    if (!this.lastRead || now - this.lastRead.at > PUBLISHED_READ_REUSE_MS) {
      const read = this.k.readPublished()
      this.lastRead = { at: now, read }
      read.catch(() => {
        if (this.lastRead?.read === read) this.lastRead = undefined // the caller gets the error; the next read retries
      })
    }
    return this.lastRead.read
  }

  /**
   * Remove the table (false when there was none), and turn IPv4 forwarding off if this process
   * turned it on: a first start that fails leaves the host as it found it. Another process's
   * teardown cannot know how it was, and leaves it on.
   */
  async teardown(): Promise<boolean> {
    const removed = await this.k.removeTable()
    this.applied = undefined
    if (this.forwardingTurnedOn) {
      this.k.disableForwarding()
      this.forwardingTurnedOn = false
    }
    return removed
  }

  /** The table this process would write now (for tests and diagnostics). */
  state(): TableState | undefined {
    if (!this.subnets) return undefined
    return {
      natSources: this.subnets.filter((s) => !s.internal).map((s) => s.subnet),
      weftSubnets: this.subnets.map((s) => s.subnet),
      publications: [...this.pubs.values()],
    }
  }

  private async sync(force = false): Promise<void> {
    const s = this.state()
    if (!s) return // not yet told the cluster's subnets: keep the table a previous process left
    const text = renderTable(s)
    if (text === this.applied && !force) return
    await this.k.applyTable(s)
    this.applied = text
  }
}
