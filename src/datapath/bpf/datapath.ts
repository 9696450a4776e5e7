// The bpf datapath: bpf/vxlan.bpf.c loaded through src/bpf, its maps pinned and shared under
// PIN_ROOT/<node>/ (/sys/fs/bpf/weft/<node>/), its programs attached on ingress of the underlay
// NIC (a pinned tcx link) and of every endpoint's host veth (a tc direct-action filter under an
// ingress qdisc: see attachEndpointFilter for why not tcx). The maps are the only state: a
// restarted process reads everything back from them (actual(), stats()), and so does the kernel
// per packet.
//
// Design notes (2025, datapath owner; endpoint filters 2026-11):
// - Live restore without a gap: start() loads the object with pinMaps(), so libbpf adopts the
//   pinned maps (same kernel maps the running programs use), then swaps the program of the
//   pinned underlay link with bpf_link_update and of every endpoint filter with an in-place
//   replace. The old program runs until the atomic swap; both read the same maps, so no
//   packet sees an empty table.
// - Pin layout: <dir>/vx_* (maps), <dir>/links/underlay (the underlay's tcx link).
// - Host veth MTU = underlay MTU (the container end gets the overlay MTU), so a container that
//   raises its MTU reaches vx_from_ep with oversize frames and gets ICMP frag-needed back
//   (mtu = overlay MTU) instead of a silent drop at the veth, where a frame above the veth's
//   MTU is discarded without any ICMP and TCP stalls in a PMTU black hole.
// - Every mutating call runs through one queue: calls interleave only at await points, and
//   the plumbing awaits, so two calls on one endpoint must not overlap.
// - The config (VTEP address, underlay ifindex, UDP port) is a one-slot array map, not
//   `const volatile`: a restarted agent whose underlay ifindex changed rewrites it in place.
// - The way out (issue 15): BPF passes what leaves every weft network up to the host stack;
//   the host side (NAT, forwarding, routes, published ports) is src/egress/, driven from here.
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  adoptPinnedLink,
  attach,
  BpfError,
  ensurePinDir,
  Errno,
  getSys,
  mapSyscalls,
  linkInfo,
  openObject,
  openPinnedMap,
  PerCpuMap,
  pinExists,
  removePinDir,
  pinFd,
  sumCounters,
  TypedMap,
  u32,
  unpin,
  type LoadedObject,
  type MapRef,
  type PinnedMap,
  type ProgramRef,
  type TcAttachment,
} from '../../bpf/index.ts'
import { ConflictError, NotFoundError, ValidationError } from '../../errors/index.ts'
import { isNodeName, NODE_NAME_RULE } from '../../util/names.ts'
import {
  assertHostAddress,
  assertIfname,
  assertVni,
  ensureHostPair,
  findUnderlay,
  handOverIfnameFor,
  IFNAME_PREFIX,
  intToIPv4,
  ipv4ToInt,
  macToBytes,
  parseCidr,
  parseIPv4,
  parseMac,
  hostRtnl,
  plumbEndpoint,
  unplumbEndpoint,
  unplumbEndpoints,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  type UnderlayNic,
} from '../../net/index.ts'
import type {
  ActualState,
  Datapath,
  DatapathFault,
  DatapathOptions,
  LocalEndpointSpec,
  NetworkSpec,
  PublishedPortStats,
  RemoteEndpointSpec,
  VniStats,
} from '../types.ts'
import { checkRemote, checkRemoteKey } from '../validate.ts'
import {
  CFG_F_EGRESS,
  CFG_F_VALID,
  configCodec,
  NET_F_INTERNAL,
  subnetCodec,
  subnetKeyCodec,
  type Subnet,
  type SubnetKey,
  Counter,
  DROP_REASONS,
  MAP_NAMES,
  epCodec,
  epKeyCodec,
  ifCodec,
  memberKeyCodec,
  netCodec,
  PROG_FROM_ENDPOINT,
  PROG_FROM_UNDERLAY,
  statCodec,
  statKeyCodec,
  type Config,
  type Ep,
  type EpKey,
  type If,
  type MemberKey,
  type Net,
  type Stat,
  type StatKey,
} from './abi.ts'
import type { ClusterSubnetSpec } from '../types.ts'
import { PIN_ROOT } from '../constants.ts'
import { ensureGroDevice, GRO_IFNAME, removeGroDevice } from './gro.ts'
import { takeOverFromKernel } from '../kernel/remove.ts'
import { formatPublished, HostEgress, TABLE as NFT_TABLE } from '../../egress/index.ts'

export { PIN_ROOT }

/** VniStats plus the counters only this datapath has. */
export interface BpfVniStats extends VniStats {
  /** Packets switched between two endpoints of this host (never on the underlay). */
  localPackets: bigint
  localBytes: bigint
  /** ARP requests answered in BPF. */
  arpReplies: bigint
  /** ICMP fragmentation-needed replies sent back into containers. */
  fragNeeded: bigint
  /** Way out: packets passed up to the host stack for outside every weft network. */
  outPackets: bigint
  outBytes: bigint
  /** Pings to the gateway answered in BPF. */
  gatewayEchoes: bigint
  /** Peer probes answered in BPF (bpf/lib/probe.h). */
  probeReplies: bigint
  published?: PublishedPortStats[]
}

export interface BpfDatapathInternals {
  /** The BPF object to load (default: the embedded `vxlan` object). */
  objectBytes?: () => Uint8Array
  /** Set up the way out (nftables, forwarding; default true). Off: what leaves the overlay is dropped (no_way_out). */
  egress?: boolean
}

interface Maps {
  cfg: TypedMap<number, Config>
  nets: TypedMap<number, Net>
  eps: TypedMap<EpKey, Ep>
  ifs: TypedMap<number, If>
  members: TypedMap<MemberKey, number>
  subnets: TypedMap<SubnetKey, Subnet>
  stats: PerCpuMap<StatKey, Stat>
}

interface Loaded {
  obj: LoadedObject
  maps: Maps
  ul: UnderlayNic
  fromEp: ProgramRef
  /** Replaced when drift repair re-attaches a detached link. */
  ulLink: TcAttachment
  /**
   * vx_members by VNI as last read (every actual() reads the whole map) or written here: a
   * setMembers compares with one VNI's members instead of reading every VNI's (it runs per
   * network whose members change, so a burst read the whole map hundreds of times).
   */
  members?: Map<number, Set<number>>
}

export class BpfDatapath implements Datapath {
  readonly kind = 'bpf' as const
  readonly pinDir: string
  private readonly linksDir: string
  private readonly advertise: string
  private loaded: Loaded | undefined
  private queue: Promise<unknown> = Promise.resolve()
  /** Host side of the way out; undefined when turned off. */
  private readonly egress: HostEgress | undefined
  /** The cluster's subnets as last set (setClusterSubnets); vx_subnets holds these and every local network's. */
  /** The cluster's subnets as setClusterSubnets was last told them, parsed once. */
  private clusterSubnets: { vni: number; key: SubnetKey }[] = []

  constructor(
    private readonly opts: DatapathOptions,
    private readonly internals: BpfDatapathInternals = {},
  ) {
    if (!isNodeName(opts.node ?? '')) {
      throw new ValidationError(
        `node name "${opts.node}" must be ${NODE_NAME_RULE} (it names the pin directory)`,
      )
    }
    this.advertise = parseIPv4(opts.advertise, 'advertise address')
    this.pinDir = join(PIN_ROOT, opts.node)
    this.linksDir = join(this.pinDir, 'links')
    this.egress = internals.egress === false ? undefined : new HostEgress()
  }

  /** Run `fn` after every earlier mutating call has finished. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => {})
    return next
  }

  start(): Promise<void> {
    return this.serial(async () => {
      if (this.loaded) await this.repairBase(this.loaded)
      else await this.ensure()
    })
  }

  /** The config this host's programs must read (vx_cfg slot 0). */
  private config(ul: UnderlayNic): Config {
    return {
      vtepIp: ipv4ToInt(this.advertise),
      ulIfindex: ul.ifindex,
      udpPort: VXLAN_PORT,
      flags: CFG_F_VALID | (this.egress ? CFG_F_EGRESS : 0),
    }
  }

  /** What of the base (pins, underlay link, config, wfgro) is not as ensure() made it (live maps only). */
  private baseFaults(l: Loaded): DatapathFault[] {
    const faults: DatapathFault[] = []
    for (const name of MAP_NAMES) {
      const path = join(this.pinDir, name)
      if (!pinExists(path)) faults.push({ part: 'pin', detail: `map pin ${path} is missing` })
    }
    const linkPath = join(this.linksDir, 'underlay')
    if (!pinExists(linkPath))
      faults.push({ part: 'pin', detail: `link pin ${linkPath} is missing` })
    let ifindex = 0
    try {
      ifindex = linkInfo(l.ulLink).ifindex
    } catch {
      // unreadable counts as detached
    }
    if (ifindex !== l.ul.ifindex) {
      faults.push({
        part: 'underlay-link',
        detail: `the underlay program is not attached to ${l.ul.ifname} (its tcx link was detached)`,
      })
    }
    const cfg = l.maps.cfg.lookup(0)
    const want = this.config(l.ul)
    if (
      !cfg ||
      cfg.vtepIp !== want.vtepIp ||
      cfg.ulIfindex !== want.ulIfindex ||
      cfg.udpPort !== want.udpPort ||
      cfg.flags !== want.flags
    ) {
      faults.push({
        part: 'config',
        detail: `the config entry (vx_cfg) is ${cfg ? 'altered' : 'missing'}`,
      })
    }
    if (!getSys().ifNameToIndex(GRO_IFNAME))
      faults.push({ part: 'gro', detail: `the GRO device ${GRO_IFNAME} is missing` })
    return faults
  }

  /** Put back what baseFaults reports: re-pin maps and the link, re-attach, rewrite the config, re-create wfgro. */
  private async repairBase(l: Loaded): Promise<void> {
    for (const name of MAP_NAMES) {
      const path = join(this.pinDir, name)
      if (!pinExists(path)) pinFd(l.obj.map(name).fd, path, `map ${name}`)
    }
    const linkPath = join(this.linksDir, 'underlay')
    let ifindex = 0
    try {
      ifindex = linkInfo(l.ulLink).ifindex
    } catch {
      // re-attached below
    }
    if (ifindex !== l.ul.ifindex) {
      l.ulLink.close()
      if (pinExists(linkPath)) unpin(linkPath)
      l.ulLink = this.attachOrAdopt(linkPath, l.ul.ifindex, l.obj.program(PROG_FROM_UNDERLAY))
    } else if (!pinExists(linkPath)) {
      l.ulLink.pin(linkPath)
    }
    l.maps.cfg.update(0, this.config(l.ul))
    if (!getSys().ifNameToIndex(GRO_IFNAME)) await ensureGroDevice(VXLAN_PORT)
  }

  private async ensure(): Promise<Loaded> {
    if (this.loaded) return this.loaded
    const ul = await findUnderlay(this.advertise)
    const bytes = this.internals.objectBytes
      ? this.internals.objectBytes()
      : (await import('../../embedded/index.ts')).bpfObjectBytes('vxlan')
    // A first start (nothing pinned yet) that fails takes back what it made; a restart that
    // fails leaves the running datapath as it found it (live restore).
    const fresh = !pinExists(this.pinDir) || readdirSync(this.pinDir).length === 0
    const hadGro = !!getSys().ifNameToIndex(GRO_IFNAME)
    let obj: LoadedObject
    try {
      // Adopts every map already pinned in pinDir: the running programs keep using the same maps.
      obj = openObject(bytes, { name: 'vxlan' }).pinMaps(this.pinDir).load()
    } catch (err) {
      if (fresh) removePinDir(this.pinDir)
      throw err
    }
    try {
      const maps: Maps = {
        cfg: new TypedMap(obj.map('vx_cfg'), u32, configCodec),
        nets: new TypedMap(obj.map('vx_nets'), u32, netCodec),
        eps: new TypedMap(obj.map('vx_eps'), epKeyCodec, epCodec),
        ifs: new TypedMap(obj.map('vx_ifs'), u32, ifCodec),
        members: new TypedMap(obj.map('vx_members'), memberKeyCodec, u32),
        subnets: new TypedMap(obj.map('vx_subnets'), subnetKeyCodec, subnetCodec),
        stats: new PerCpuMap(obj.map('vx_stats'), statKeyCodec, statCodec),
      }
      await this.egress?.start()
      maps.cfg.update(0, this.config(ul))
      // a host switched from the kernel datapath: its vxlan devices hold UDP 4789 (wfgro's port)
      const tookOver = await takeOverFromKernel()
      if (tookOver.length) this.opts.onTakeOver?.({ from: 'kernel', removed: tookOver })
      await ensureGroDevice(VXLAN_PORT)
      ensurePinDir(this.linksDir)
      const fromEp = obj.program(PROG_FROM_ENDPOINT)
      const ulLink = this.attachOrAdopt(
        join(this.linksDir, 'underlay'),
        ul.ifindex,
        obj.program(PROG_FROM_UNDERLAY),
      )
      this.loaded = { obj, maps, ul, fromEp, ulLink }
      this.reattachEndpoints(this.loaded)
      return this.loaded
    } catch (err) {
      obj.close()
      if (fresh) {
        if (!hadGro) await removeGroDevice()
        removePinDir(this.pinDir)
      }
      throw err
    }
  }

  /**
   * Keep a pinned link on `ifindex` (swapping in `prog` atomically), or attach and pin a new one.
   * A pinned link for another ifindex (its interface was re-created) is replaced.
   */
  private attachOrAdopt(path: string, ifindex: number, prog: ProgramRef): TcAttachment {
    if (pinExists(path)) {
      let link: TcAttachment | undefined
      try {
        link = adoptPinnedLink(path)
        if (linkInfo(link).ifindex === ifindex) {
          link.replaceProgram(prog)
          return link
        }
        link.detach()
      } catch {
        link?.close()
      }
      unpin(path)
    }
    const link = attach({ program: prog, iface: ifindex, direction: 'ingress', mode: 'tcx' })
    try {
      link.pin(path)
    } catch (err) {
      link.detach()
      throw err
    }
    return link
  }

  /**
   * Point every endpoint veth's filter at this process's program (an atomic replace: traffic
   * keeps flowing while a new agent takes over).
   */
  private reattachEndpoints(l: Loaded): void {
    for (const ifindex of l.maps.ifs.keys()) {
      try {
        this.attachEndpointFilter(ifindex, l.fromEp)
      } catch {
        // the veth is gone: the reconciler's next pass detaches the endpoint
      }
    }
  }

  /**
   * The endpoint program on a host veth's ingress, as a tc direct-action filter (under an
   * ingress qdisc; a veth of an older agent keeps its clsact): created, or its program replaced
   * in place. Not a tcx link (2026-11, measured on 6.18): a tcx attach holds RTNL across an RCU
   * grace period, ~14 ms per veth, which serialised endpoint creation host-wide; the filter takes
   * ~0.2 ms. The filter lives with the veth, not with a process.
   */
  private attachEndpointFilter(ifindex: number, prog: ProgramRef): void {
    // over the plumbing's own socket: qdisc and filter in one send, no new socket per veth;
    // an ingress qdisc, not clsact: one tc block per veth, not two (see hookQdiscMessage)
    attach({
      program: prog,
      iface: ifindex,
      direction: 'ingress',
      mode: 'tc',
      replace: true,
      rtnl: hostRtnl(),
      qdisc: 'ingress',
    })
  }

  upsertNetwork(net: NetworkSpec): Promise<void> {
    const vni = assertVni(net.vni)
    const subnet = parseCidr(net.subnet, `subnet of network ${vni}`)
    assertHostAddress(net.gateway, subnet, `gateway of network ${vni}`)
    return this.serial(async () => {
      const { maps, ul } = await this.ensure()
      const maxMtu = ul.mtu - VXLAN_OVERHEAD
      if (!Number.isInteger(net.mtu) || net.mtu < 576 || net.mtu > maxMtu) {
        throw new ValidationError(
          `MTU ${net.mtu} of network ${vni} is out of range: 576..${maxMtu} (underlay ${ul.ifname} MTU ${ul.mtu} - ${VXLAN_OVERHEAD} VXLAN overhead)`,
        )
      }
      const known = maps.nets.lookup(vni) !== undefined
      const key = { prefixlen: subnet.prefixLen, addr: ipv4ToInt(subnet.network) }
      maps.nets.update(vni, {
        mtu: net.mtu,
        subnet: key.addr,
        gateway: ipv4ToInt(parseIPv4(net.gateway)),
        prefixLen: key.prefixlen,
        flags: net.internal ? NET_F_INTERNAL : 0,
      })
      // a new network only adds its own subnet (a whole sync per network of a burst read every
      // network and subnet each time: quadratic); a changed or re-upserted one syncs all of them
      if (known) this.syncSubnets(maps)
      else maps.subnets.update(key, { vni })
    })
  }

  removeNetwork(vni: number): Promise<void> {
    assertVni(vni)
    return this.serial(async () => {
      const { maps } = await this.ensure()
      const entries = maps.ifs.entries()
      const names = linkNames(entries.map(([ifindex]) => ifindex))
      const doomed: string[] = []
      for (const [ifindex, e] of entries) {
        if (e.vni !== vni) continue
        const name = names.get(ifindex)
        maps.ifs.delete(ifindex)
        if (name) doomed.push(name)
      }
      for (const k of maps.eps.keys()) if (k.vni === vni) maps.eps.delete(k)
      for (const k of maps.members.keys()) if (k.vni === vni) maps.members.delete(k)
      this.loaded?.members?.delete(vni)
      for (const k of maps.stats.entries().map(([k]) => k)) if (k.vni === vni) maps.stats.delete(k)
      maps.nets.delete(vni)
      this.syncSubnets(maps)
      await unplumbEndpoints(doomed)
      await this.egress?.detachNetwork(vni)
    })
  }

  async attachEndpoint(ep: LocalEndpointSpec): Promise<{ ifindex: number }> {
    const vni = assertVni(ep.vni)
    const ip = parseIPv4(ep.ip, 'endpoint address')
    const mac = parseMac(ep.mac, 'endpoint MAC')
    assertIfname(ep.hostIfname, 'host interface name')
    const key = { vni, ip: ipv4ToInt(ip) }
    // 1. check against the maps (serialised with every other map change)
    const { l, net } = await this.serial(async () => {
      const l = await this.ensure()
      const net = l.maps.nets.lookup(vni)
      if (!net) {
        throw new NotFoundError(
          `network with VNI ${vni} is not set up on this host: upsert the network first`,
          'network_not_found',
        )
      }
      assertHostAddress(
        ip,
        `${intToIPv4(net.subnet)}/${net.prefixLen}`,
        `endpoint address of network ${vni}`,
      )
      const existing = l.maps.eps.lookup(key)
      if (existing?.ifindex) {
        const owner = ownLinkNames([existing.ifindex]).get(existing.ifindex)
        if (owner && owner !== ep.hostIfname) {
          throw new ConflictError(
            `address ${ip} in network ${vni} is already used by local endpoint ${owner}`,
            'address_taken',
          )
        }
      }
      if (ep.publish?.length) {
        if (net.flags & NET_F_INTERNAL)
          throw new ValidationError(`network ${vni} is internal: nothing can be published from it`)
        if (!this.egress)
          throw new ValidationError(
            'this datapath runs without the way out: ports cannot be published',
          )
        this.egress.checkPorts(vni, ip, ep.publish)
      }
      return { l, net }
    })
    // 2. the veth pair (rtnetlink), between the two queued steps
    const plumbed =
      ep.plumbing === 'docker'
        ? undefined
        : await plumbEndpoint({
            sandbox: ep.sandbox,
            ifname: ep.ifname,
            hostIfname: ep.hostIfname,
            mac,
            ip,
            prefixLen: net.prefixLen,
            mtu: net.mtu,
            hostMtu: l.ul.mtu,
          })
    // Docker plumbing: the pair is made in the host netns, the other end handed to Docker
    const p =
      plumbed ??
      ensureHostPair({
        hostIfname: ep.hostIfname,
        peerIfname: handOverIfnameFor(ep.id),
        mac,
        mtu: net.mtu,
        hostMtu: l.ul.mtu,
      })
    // 3. the veth's identity (vx_ifs), its program, and only then the address (vx_eps): once
    // others can reach the container, its answers (and its first ARP) already meet the program,
    // which already knows the veth
    return this.serial(async () => {
      const { maps } = l
      const previous = maps.eps.lookup(key)
      if (previous?.ifindex && previous.ifindex !== p.hostIfindex) maps.ifs.delete(previous.ifindex)
      if (this.egress && !(net.flags & NET_F_INTERNAL)) {
        try {
          await this.egress.attach({
            vni,
            ip,
            mac,
            hostIfname: ep.hostIfname,
            hostIfindex: p.hostIfindex,
            ifname: ep.ifname,
            // Docker plumbing: Docker sets the sandbox's default route (the Join answer's Gateway)
            ...(plumbed
              ? { sandboxPath: plumbed.sandboxPath, peerIfindex: plumbed.peerIfindex }
              : { sandboxPath: '', peerIfindex: 0 }),
            gateway: intToIPv4(net.gateway),
            mtu: net.mtu,
            publish: ep.publish ?? [],
          })
        } catch (err) {
          // a pair made for this call goes again (an adopted one keeps working as it was)
          if (!p.adopted) await unplumbEndpoint(ep.hostIfname)
          throw err
        }
      }
      maps.ifs.update(p.hostIfindex, { vni, ip: key.ip, mac: macToBytes(mac) })
      this.attachEndpointFilter(p.hostIfindex, l.fromEp)
      maps.eps.update(key, { ifindex: p.hostIfindex, vtep: 0, mac: macToBytes(mac) })
      return { ifindex: p.hostIfindex }
    })
  }

  detachEndpoint(ep: { vni: number; ip: string; hostIfname?: string }): Promise<void> {
    const vni = assertVni(ep.vni)
    const ip = parseIPv4(ep.ip, 'endpoint address')
    const hostIfname =
      ep.hostIfname === undefined ? undefined : assertIfname(ep.hostIfname, 'host interface name')
    return this.serial(async () => {
      const { maps } = await this.ensure()
      const ipInt = ipv4ToInt(ip)
      const ifs = maps.ifs
        .entries()
        .filter(([, e]) => e.vni === vni && e.ip === ipInt)
        .map(([ifindex]) => ifindex)
      const key = { vni, ip: ipInt }
      const cur = maps.eps.lookup(key)
      // Without a name the veth is gone: clear only state whose ifindex no live veth of ours holds.
      const live =
        hostIfname === undefined
          ? ownLinkNames(cur?.ifindex ? [...ifs, cur.ifindex] : ifs)
          : undefined
      const doomed = (ifindex: number) => !live?.has(ifindex)
      for (const ifindex of ifs) if (doomed(ifindex)) maps.ifs.delete(ifindex)
      if (cur && cur.ifindex !== 0 && doomed(cur.ifindex)) maps.eps.delete(key)
      if (hostIfname !== undefined) await unplumbEndpoint(hostIfname)
      if (hostIfname !== undefined || !cur || cur.ifindex === 0 || doomed(cur.ifindex))
        await this.egress?.detach(vni, ip)
    })
  }

  upsertRemoteEndpoint(ep: RemoteEndpointSpec): Promise<void> {
    const { vni, ip, mac, vtep } = checkRemote(ep)
    return this.serial(async () => {
      const { maps } = await this.ensure()
      if (!maps.nets.lookup(vni)) {
        throw new NotFoundError(
          `network with VNI ${vni} is not set up on this host: upsert the network first`,
          'network_not_found',
        )
      }
      const key = { vni, ip: ipv4ToInt(ip) }
      const cur = maps.eps.lookup(key)
      if (cur && cur.ifindex !== 0) {
        throw new ConflictError(
          `address ${ip} in network ${vni} is a local endpoint of this host: detach it before declaring it remote`,
          'address_taken',
        )
      }
      maps.eps.update(key, { ifindex: 0, vtep: ipv4ToInt(vtep), mac: macToBytes(mac) })
    })
  }

  removeRemoteEndpoint(ep: { vni: number; ip: string }): Promise<void> {
    const { vni, ip } = checkRemoteKey(ep)
    return this.serial(async () => {
      const { maps } = await this.ensure()
      const key = { vni, ip: ipv4ToInt(ip) }
      const cur = maps.eps.lookup(key)
      if (cur && cur.ifindex === 0) maps.eps.delete(key)
    })
  }

  setMembers(vni: number, vteps: string[]): Promise<void> {
    assertVni(vni)
    if (!Array.isArray(vteps)) throw new ValidationError('vteps must be a list of IPv4 addresses')
    // Our own VTEP never sends us VXLAN (same-host traffic is switched locally), as in kernel mode.
    const want = new Set(vteps.map((v) => ipv4ToInt(parseIPv4(v, 'member VTEP'))))
    want.delete(ipv4ToInt(this.advertise))
    return this.serial(async () => {
      const loaded = await this.ensure()
      const maps = loaded.maps
      const held = (loaded.members ??= membersByVni(maps.members.keys()))
      const have = held.get(vni) ?? new Set<number>()
      try {
        for (const v of want) if (!have.has(v)) maps.members.update({ vni, vtep: v }, 1)
        for (const v of have) if (!want.has(v)) maps.members.delete({ vni, vtep: v })
      } catch (e) {
        loaded.members = undefined // part-way: read the map again next time
        throw e
      }
      if (want.size) held.set(vni, want)
      else held.delete(vni)
    })
  }

  /** Every weft subnet of the cluster into vx_subnets (isolation on the way out) and the NAT table. */
  setClusterSubnets(subnets: ClusterSubnetSpec[]): Promise<void> {
    if (!Array.isArray(subnets))
      throw new ValidationError('subnets must be a list of {vni, subnet, internal}')
    const checked = subnets.map((s) => {
      const vni = assertVni(s.vni)
      const c = parseCidr(s.subnet, `subnet of network ${vni}`)
      return {
        spec: { vni, subnet: c.cidr, internal: !!s.internal },
        key: { prefixlen: c.prefixLen, addr: ipv4ToInt(c.network) },
      }
    })
    return this.serial(async () => {
      const { maps } = await this.ensure()
      this.clusterSubnets = checked.map((c) => ({ vni: c.spec.vni, key: c.key }))
      this.syncSubnets(maps)
      await this.egress?.setSubnets(checked.map((c) => c.spec))
    })
  }

  /**
   * vx_subnets = the cluster's subnets plus every network of this host, so another local
   * network is never reachable through the host stack, even before the first setClusterSubnets.
   * One read of each map and writes only for what differs: it runs per network set up, and a
   * lookup per subnet made that quadratic in a burst (300 networks: 90,000 syscalls).
   */
  private syncSubnets(maps: Maps): void {
    const want = new Map<string, { key: SubnetKey; vni: number }>()
    const add = (vni: number, key: SubnetKey) =>
      want.set(`${key.addr}/${key.prefixlen}`, { key, vni })
    for (const s of this.clusterSubnets) add(s.vni, s.key)
    for (const [vni, n] of maps.nets.entries()) add(vni, { prefixlen: n.prefixLen, addr: n.subnet })
    const have = new Map<string, number>()
    for (const [k, v] of maps.subnets.entries()) {
      const id = `${k.addr}/${k.prefixlen}`
      if (want.has(id)) have.set(id, v.vni)
      else maps.subnets.delete(k)
    }
    for (const [id, { key, vni }] of want)
      if (have.get(id) !== vni) maps.subnets.update(key, { vni })
  }

  /** Reads the maps back: the live ones, or the pinned ones without starting (nothing is created). */
  /**
   * How many local and remote endpoints actual() would list, without building the list (no
   * link names, no strings, no sort): what a poll for convergence needs, at a fraction of the
   * cost (the converge bench polls every host every 250 ms on the same CPUs as the agents).
   */
  async endpointCounts(): Promise<{ local: number; remote: number }> {
    return this.readMaps({ local: 0, remote: 0 }, (maps) => {
      let remote = 0
      for (const [, e] of maps.eps.entries()) if (e.ifindex === 0) remote++
      return { local: maps.ifs.entries().length, remote }
    })
  }

  async actual(): Promise<ActualState> {
    const empty: ActualState = {
      networks: [],
      localEndpoints: [],
      remoteEndpoints: [],
      members: [],
    }
    return this.readMaps(empty, (maps) => {
      const read = this.readRaw(maps) ?? this.readDecoded(maps)
      // what setMembers compares with: the kernel's as read now (drift included)
      if (this.loaded?.maps === maps) this.loaded.members = this.heldMembers(read.members)
      const { held, ip, mac } = this.memo
      const local: LocalHeld[] = read.ifs.map(([ifindex, vni, ipInt, macInt]) => {
        const fwd = read.fwd.get(epKey(vni, ipInt))
        const forwarding = fwd !== undefined && fwd[0] === ifindex && fwd[1] === macInt
        const hostIfname = read.names.get(ifindex)
        const had = held.local.get(ifindex)
        if (
          had &&
          had.vni === vni &&
          had.ip === ipInt &&
          had.mac === macInt &&
          had.e.forwarding === forwarding &&
          had.e.hostIfname === hostIfname
        )
          return had
        const e = {
          vni,
          ip: ip(ipInt),
          ...(hostIfname !== undefined && { hostIfname }),
          ifindex,
          mac: mac(macInt),
          forwarding,
        }
        const h = { e, vni, ip: ipInt, mac: macInt }
        held.local.set(ifindex, h)
        return h
      })
      const localEndpoints = local.sort((a, b) => a.vni - b.vni || a.ip - b.ip).map((h) => h.e)
      const remote: RemoteHeld[] = read.remote.map(([vni, ipInt, macInt, vtep]) => {
        const key = epKey(vni, ipInt)
        const had = held.remote.get(key)
        if (had && had.mac === macInt && had.vtep === vtep) return had
        const h = {
          e: { vni, ip: ip(ipInt), mac: mac(macInt), vtep: ip(vtep) },
          key,
          mac: macInt,
          vtep,
        }
        held.remote.set(key, h)
        return h
      })
      const remoteEndpoints = remote.sort((a, b) => a.key - b.key).map((h) => h.e)
      const vnis = [...read.nets.keys()].sort((a, b) => a - b)
      const members = vnis.map((vni) => {
        const vteps = (read.members.get(vni) ?? []).sort((a, b) => a - b)
        const had = held.members.get(vni)
        if (had && sameNumbers(had.vteps, vteps)) return had.e
        const e = { vni, vteps: vteps.map(ip) }
        held.members.set(vni, { e, vteps })
        return e
      })
      const networks = vnis.map((vni) => {
        const n = read.nets.get(vni)!
        const had = held.networks.get(vni)
        if (had && sameNumbers(had.raw, n)) return had.e
        const e = { vni, subnet: `${ip(n[0])}/${n[1]}`, gateway: ip(n[2]), mtu: n[3] }
        held.networks.set(vni, { e, raw: n })
        return e
      })
      // what the maps no longer hold leaves the memo
      if (held.local.size > local.length)
        for (const k of held.local.keys()) if (!read.ifIndexes.has(k)) held.local.delete(k)
      if (held.remote.size > remote.length) {
        const still = new Set(remote.map((h) => h.key))
        for (const k of held.remote.keys()) if (!still.has(k)) held.remote.delete(k)
      }
      for (const m of [held.members, held.networks])
        if (m.size > vnis.length) for (const k of m.keys()) if (!read.nets.has(k)) m.delete(k)
      // the base is checked only where this process holds it (a reader of pins owns nothing)
      return {
        networks,
        localEndpoints,
        remoteEndpoints,
        members,
        ...(this.loaded && { faults: this.baseFaults(this.loaded) }),
      }
    })
  }

  /**
   * What actual() built last time, by map key, and the address and MAC strings it made: an
   * entry read back unchanged is handed out again, not rebuilt. The drift guard reads the
   * maps every 5 s at rest; building ~4,000 objects and their strings (a MAC was 13 strings)
   * every time was most of the ~10 MB each comparison allocated (the agent's 5 s RSS spikes).
   */
  private readonly memo = new ActualMemo()

  /** The maps' entries as numbers, by one batch read of each into reused buffers; undefined without batch lookups. */
  private readRaw(maps: Omit<Maps, 'cfg' | 'subnets'>): RawRead | undefined {
    const out = emptyRawRead()
    const ok =
      scanMap(maps.nets.ref, (k, ko, v, vo) => {
        // struct vx_net: mtu u32, subnet be32, gateway be32, prefixLen u8
        out.nets.set(k.getUint32(ko, true), [
          v.getUint32(vo + 4),
          v.getUint8(vo + 12),
          v.getUint32(vo + 8),
          v.getUint32(vo, true),
        ])
      }) &&
      scanMap(maps.eps.ref, (k, ko, v, vo) => {
        // struct vx_ep_key: vni u32, ip be32; struct vx_ep: ifindex u32, vtep be32, mac[6]
        const vni = k.getUint32(ko, true)
        const ip = k.getUint32(ko + 4)
        const ifindex = v.getUint32(vo, true)
        const mac = macAt(v, vo + 8)
        if (ifindex === 0) out.remote.push([vni, ip, mac, v.getUint32(vo + 4)])
        else out.fwd.set(epKey(vni, ip), [ifindex, mac])
      }) &&
      scanMap(maps.ifs.ref, (k, ko, v, vo) => {
        // key: ifindex u32; struct vx_if: vni u32, ip be32, mac[6]
        const ifindex = k.getUint32(ko, true)
        out.ifIndexes.add(ifindex)
        out.ifs.push([ifindex, v.getUint32(vo, true), v.getUint32(vo + 4), macAt(v, vo + 8)])
      }) &&
      scanMap(maps.members.ref, (k, ko) => {
        // struct vx_member_key: vni u32, vtep be32
        const vni = k.getUint32(ko, true)
        let list = out.members.get(vni)
        if (!list) out.members.set(vni, (list = []))
        list.push(k.getUint32(ko + 4))
      })
    if (!ok) return undefined
    // an ifindex whose veth is gone (or now names another link) has no host ifname
    out.names = ownLinkNames(out.ifIndexes)
    return out
  }

  /** readRaw through the typed maps (a kernel without batch lookups): the same numbers. */
  private readDecoded(maps: Omit<Maps, 'cfg' | 'subnets'>): RawRead {
    const out = emptyRawRead()
    for (const [vni, n] of maps.nets.entries())
      out.nets.set(vni, [n.subnet, n.prefixLen, n.gateway, n.mtu])
    for (const [k, e] of maps.eps.entries()) {
      const mac = macAt(new DataView(e.mac.buffer, e.mac.byteOffset), 0)
      if (e.ifindex === 0) out.remote.push([k.vni, k.ip, mac, e.vtep])
      else out.fwd.set(epKey(k.vni, k.ip), [e.ifindex, mac])
    }
    for (const [ifindex, e] of maps.ifs.entries()) {
      out.ifIndexes.add(ifindex)
      out.ifs.push([ifindex, e.vni, e.ip, macAt(new DataView(e.mac.buffer, e.mac.byteOffset), 0)])
    }
    for (const k of maps.members.keys()) {
      let list = out.members.get(k.vni)
      if (!list) out.members.set(k.vni, (list = []))
      list.push(k.vtep)
    }
    out.names = ownLinkNames(out.ifIndexes)
    return out
  }

  /** vx_members as read, for setMembers: the Sets it holds are kept where the kernel still agrees. */
  private heldMembers(read: Map<number, number[]>): Map<number, Set<number>> {
    const had = this.loaded?.members
    const out = new Map<number, Set<number>>()
    for (const [vni, vteps] of read) {
      const set = had?.get(vni)
      out.set(
        vni,
        set && set.size === vteps.length && vteps.every((v) => set.has(v)) ? set : new Set(vteps),
      )
    }
    return out
  }

  /** Run `fn` on the live maps, or on the pinned maps opened for the call; `empty` if none exist. */
  private readMaps<T>(empty: T, fn: (maps: Omit<Maps, 'cfg' | 'subnets'>) => T): T {
    if (this.loaded) return fn(this.loaded.maps)
    if (!pinExists(join(this.pinDir, 'vx_nets'))) return empty
    const opened: PinnedMap[] = []
    const open = (name: string) => {
      const m = openPinnedMap(join(this.pinDir, name))
      opened.push(m)
      return m
    }
    try {
      return fn({
        nets: new TypedMap(open('vx_nets'), u32, netCodec),
        eps: new TypedMap(open('vx_eps'), epKeyCodec, epCodec),
        ifs: new TypedMap(open('vx_ifs'), u32, ifCodec),
        members: new TypedMap(open('vx_members'), memberKeyCodec, u32),
        stats: new PerCpuMap(open('vx_stats'), statKeyCodec, statCodec),
      })
    } finally {
      for (const m of opened) m.close()
    }
  }

  /** Per-VNI counters summed over CPUs (live or pinned maps; nothing is created), with published ports' traffic. */
  async stats(): Promise<BpfVniStats[]> {
    const stats = this.readMaps([], (maps) => this.sumStats(maps))
    if (!this.egress) return stats
    const byVni = new Map(stats.map((s) => [s.vni, s]))
    for (const p of await this.egress.published()) {
      const s = byVni.get(p.vni)
      if (!s) continue
      ;(s.published ??= []).push({
        port: formatPublished(p.port),
        ip: p.ip,
        connections: p.connections,
        packets: p.packets,
        bytes: p.bytes,
      })
    }
    return stats
  }

  private sumStats(maps: Omit<Maps, 'cfg' | 'subnets'>): BpfVniStats[] {
    const out = new Map<number, BpfVniStats>()
    const get = (vni: number) => {
      let s = out.get(vni)
      if (!s) {
        s = {
          vni,
          txPackets: 0n,
          txBytes: 0n,
          rxPackets: 0n,
          rxBytes: 0n,
          drops: {},
          localPackets: 0n,
          localBytes: 0n,
          arpReplies: 0n,
          fragNeeded: 0n,
          outPackets: 0n,
          outBytes: 0n,
          gatewayEchoes: 0n,
          probeReplies: 0n,
        }
        out.set(vni, s)
      }
      return s
    }
    for (const vni of maps.nets.keys()) get(vni)
    for (const [k, perCpu] of maps.stats.entries()) {
      const { packets, bytes } = sumCounters(perCpu)
      const s = get(k.vni)
      switch (k.counter) {
        case Counter.TX:
          s.txPackets += packets
          s.txBytes += bytes
          break
        case Counter.RX:
          s.rxPackets += packets
          s.rxBytes += bytes
          break
        case Counter.LOCAL:
          s.localPackets += packets
          s.localBytes += bytes
          break
        case Counter.ARP_REPLY:
          s.arpReplies += packets
          break
        case Counter.FRAG_NEEDED:
          s.fragNeeded += packets
          break
        case Counter.OUT:
          s.outPackets += packets
          s.outBytes += bytes
          break
        case Counter.GW_ECHO:
          s.gatewayEchoes += packets
          break
        case Counter.PROBE_REPLY:
          s.probeReplies += packets
          break
        default: {
          const reason = DROP_REASONS[k.counter] ?? `reason_${k.counter}`
          s.drops[reason] = (s.drops[reason] ?? 0n) + packets
        }
      }
    }
    return [...out.values()].sort((a, b) => a.vni - b.vni)
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      if (this.loaded) {
        this.loaded.ulLink.close()
        this.loaded.obj.close()
      }
      this.loaded = undefined
    })
  }

  async teardown(): Promise<void> {
    await this.dismantle({ endpoints: 'delete' })
  }

  /**
   * The VTEP address the pinned config (vx_cfg) names, without starting; undefined when none is
   * pinned. Pins are kernel-wide: on a kernel with several hosts (netns), this tells whose they are.
   */
  pinnedVtep(): string | undefined {
    const path = join(this.pinDir, 'vx_cfg')
    if (!pinExists(path)) return undefined
    const pinned = openPinnedMap(path)
    try {
      const cfg = new TypedMap(pinned, u32, configCodec).lookup(0)
      return cfg ? intToIPv4(cfg.vtepIp) : undefined
    } finally {
      pinned.close()
    }
  }

  /**
   * Remove this node's bpf datapath from the host, whichever process made it, and say what went:
   * the underlay program, the endpoints (`delete`: their veths; `keep`: only their BPF filter, so
   * the kernel datapath re-plumbs the veths in place), wfgro (it holds UDP 4789), the nft table
   * and the pins. Nothing found is nothing removed.
   */
  dismantle(o: { endpoints: 'delete' | 'keep' }): Promise<string[]> {
    return this.serial(async () => {
      const removed: string[] = []
      // Endpoints: from the live maps, or from the pinned map when this process never started.
      const ifindexes: number[] = []
      if (this.loaded) {
        ifindexes.push(...this.loaded.maps.ifs.keys())
      } else if (pinExists(join(this.pinDir, 'vx_ifs'))) {
        const pinned = openPinnedMap(join(this.pinDir, 'vx_ifs'))
        try {
          ifindexes.push(...new TypedMap(pinned, u32, ifCodec).keys())
        } finally {
          pinned.close()
        }
      }
      // the underlay program first: VXLAN stops meeting stale maps before anything else goes
      const detachedOn = new Set<number>()
      if (this.loaded) {
        detachedOn.add(this.loaded.ul.ifindex)
        this.loaded.ulLink.detach()
        this.loaded.obj.close()
        this.loaded = undefined
      }
      if (pinExists(this.linksDir)) {
        for (const file of readdirSync(this.linksDir)) {
          let link: TcAttachment | undefined
          try {
            link = adoptPinnedLink(join(this.linksDir, file))
            const { ifindex } = linkInfo(link)
            link.detach()
            if (ifindex) detachedOn.add(ifindex)
          } catch {
            link?.close() // already detached (its interface is gone): the pin goes with the directory
          }
        }
      }
      const ulNames = linkNames(detachedOn)
      for (const i of detachedOn)
        removed.push(`the underlay program (tcx link on ${ulNames.get(i) ?? `ifindex ${i}`})`)
      const names = [...ownLinkNames(ifindexes)]
      if (names.length && o.endpoints === 'delete') {
        await unplumbEndpoints(names.map(([, n]) => n))
        removed.push(`${names.length} endpoint veth(s): ${names.map(([, n]) => n).join(', ')}`)
      } else if (names.length) {
        const sys = getSys()
        // handle 1, priority 1 on ingress: where attachEndpointFilter puts it
        for (const [i] of names) sys.tcDetach(i, 1, 1, 1)
        removed.push(
          `the BPF filter of ${names.length} endpoint veth(s) (the veths stay): ${names.map(([, n]) => n).join(', ')}`,
        )
      }
      if (getSys().ifNameToIndex(GRO_IFNAME)) {
        await removeGroDevice()
        removed.push(`the GRO device ${GRO_IFNAME} (it held UDP port ${VXLAN_PORT})`)
      }
      if (this.egress && (await this.egress.teardown()))
        removed.push(`the nftables table inet ${NFT_TABLE}`)
      if (removePinDir(this.pinDir)) removed.push(`the pins in ${this.pinDir}`)
      return removed
    })
  }
}

/**
 * ifindex -> ifname for the given links in this netns (one socket, an ioctl each, no `ip`
 * process, so reading actual state stays cheap at thousands of endpoints). One RTM_GETLINK
 * dump was no cheaper: a veth's message is ~1 KB for the kernel to fill and for us to decode.
 */
function linkNames(ifindexes: Iterable<number>): Map<number, string> {
  return getSys().ifIndexToNames(ifindexes)
}

/** linkNames, keeping only weft's own links (IFNAME_PREFIX "wf…"): an ifindex freed by a deleted veth may name another link now. */
function ownLinkNames(ifindexes: Iterable<number>): Map<number, string> {
  const names = linkNames(ifindexes)
  for (const [i, name] of names) if (!name.startsWith(IFNAME_PREFIX)) names.delete(i)
  return names
}

/** vx_members keys by VNI. */
function membersByVni(keys: MemberKey[]): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>()
  for (const k of keys) {
    let set = out.get(k.vni)
    if (!set) out.set(k.vni, (set = new Set()))
    set.add(k.vtep)
  }
  return out
}

/** The numbers actual() reads from the maps (addresses and MACs as integers, no strings). */
interface RawRead {
  /** vni -> [subnet, prefixLen, gateway, mtu] */
  nets: Map<number, [number, number, number, number]>
  /** local endpoints' address entries: epKey -> [ifindex, mac] */
  fwd: Map<number, [number, number]>
  /** [vni, ip, mac, vtep] */
  remote: [number, number, number, number][]
  /** [ifindex, vni, ip, mac] */
  ifs: [number, number, number, number][]
  ifIndexes: Set<number>
  names: Map<number, string>
  /** vni -> member VTEPs */
  members: Map<number, number[]>
}

const emptyRawRead = (): RawRead => ({
  nets: new Map(),
  fwd: new Map(),
  remote: [],
  ifs: [],
  ifIndexes: new Set(),
  names: new Map(),
  members: new Map(),
})

/** What actual() handed out for one map entry, with the numbers it was made from. */
interface LocalHeld {
  e: ActualState['localEndpoints'][number]
  vni: number
  ip: number
  mac: number
}
interface RemoteHeld {
  e: RemoteEndpointSpec
  key: number
  mac: number
  vtep: number
}

/** Bounded string caches and the last objects actual() handed out (see BpfDatapath.memo). */
class ActualMemo {
  readonly held = {
    local: new Map<number, LocalHeld>(),
    remote: new Map<number, RemoteHeld>(),
    members: new Map<number, { e: ActualState['members'][number]; vteps: number[] }>(),
    networks: new Map<number, { e: ActualState['networks'][number]; raw: readonly number[] }>(),
  }
  private readonly ips = new Map<number, string>()
  private readonly macs = new Map<number, string>()

  readonly ip = (n: number): string => cached(this.ips, n, intToIPv4)

  readonly mac = (n: number): string =>
    cached(this.macs, n, (m) =>
      m
        .toString(16)
        .padStart(12, '0')
        .replace(/(..)(?!$)/g, '$1:'),
    )
}

/** At most this many strings per cache: past it the cache starts again (it holds what is in the maps). */
const STRING_CACHE_MAX = 1 << 16

function cached(cache: Map<number, string>, n: number, make: (n: number) => string): string {
  let s = cache.get(n)
  if (s === undefined) {
    if (cache.size >= STRING_CACHE_MAX) cache.clear()
    cache.set(n, (s = make(n)))
  }
  return s
}

/** One number for a (vni, ip) address entry key: vni * 2^32 + ip (exact below 2^53; VNIs are 24 bits). */
const epKey = (vni: number, ip: number) => vni * 2 ** 32 + ip

/** Six MAC bytes at `at` as one number (48 bits). */
const macAt = (v: DataView, at: number) => v.getUint16(at) * 2 ** 32 + v.getUint32(at + 2)

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

// Kernels without BPF_MAP_LOOKUP_BATCH (or without it for this map type) answer one of these.
const BATCH_UNSUPPORTED: ReadonlySet<number> = new Set([
  Errno.ENOTSUPP,
  Errno.EOPNOTSUPP,
  Errno.EINVAL,
])

/** Per map (by fd and shape): the buffers its batch reads reuse. */
const scanBuffers = new Map<
  string,
  { keys: Uint8Array; values: Uint8Array; k: DataView; v: DataView; chunk: number }
>()

/**
 * Every entry of a map by batch lookups into buffers kept from one read to the next, each
 * handed to `each` as views and offsets: no copy and no decoded object per entry (TypedMap's
 * entries() makes two arrays and a decoded struct per entry, and decoding a small array
 * allocates its ArrayBuffer natively). False, with nothing read, when the kernel has no
 * batch lookup for this map.
 */
function scanMap(
  ref: MapRef,
  each: (keys: DataView, keyAt: number, values: DataView, valueAt: number) => void,
): boolean {
  const sys = getSys()
  const { keySize, valueSize } = ref
  const id = `${ref.name}/${keySize}/${valueSize}`
  let b = scanBuffers.get(id)
  const alloc = (chunk: number) => {
    const keys = new Uint8Array(chunk * keySize)
    const values = new Uint8Array(chunk * valueSize)
    b = { keys, values, k: new DataView(keys.buffer), v: new DataView(values.buffer), chunk }
    scanBuffers.set(id, b)
    return b
  }
  b ??= alloc(Math.min(Math.max(ref.maxEntries, 1), 256))
  // The batch token is a u32 bucket (hash) or a key-sized index (array); in and out apart.
  let inBatch: Uint8Array | null = null
  let outBatch: Uint8Array = new Uint8Array(Math.max(8, keySize))
  const count = new Uint32Array(1)
  for (;;) {
    count[0] = b.chunk
    mapSyscalls.lookupBatch++
    const rc = sys.mapLookupBatch(ref.fd, inBatch, outBatch, b.keys, b.values, count)
    const done = rc === -Errno.ENOENT
    if (rc < 0 && !done) {
      if (rc === -Errno.ENOSPC && count[0] === 0) {
        alloc(b.chunk * 2) // one hash bucket holds more entries than fit; retry the same batch larger
        continue
      }
      if (BATCH_UNSUPPORTED.has(-rc) && inBatch === null) return false
      throw new BpfError({
        op: 'batch lookup in map',
        subject: ref.name,
        errno: -rc,
        description: sys.strerror(-rc),
      })
    }
    const n = count[0] ?? 0
    for (let i = 0; i < n; i++) each(b.k, i * keySize, b.v, i * valueSize)
    if (done) return true
    const next = inBatch ?? new Uint8Array(outBatch.length)
    inBatch = outBatch
    outBatch = next
  }
}
