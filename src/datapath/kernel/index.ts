// The kernel datapath: what Docker's overlay driver builds, in the host's netns.
// Per network: a bridge wfbr<vni> and a vxlan device wfvx<vni> (id <vni>, local <advertise>,
// dstport 4789, nolearning, proxy) enslaved to it; endpoint host veths enslaved to the bridge;
// remote endpoints as static FDB entries (MAC -> VTEP) plus permanent neighbours so the
// vxlan proxy answers ARP; member VTEPs as all-zero FDB entries (BUM head-end replication).
//
// Design notes (2026-11):
// - MTU: the container end gets the overlay MTU; the host veth, bridge and vxlan device get
//   the underlay MTU, and the vxlan device is not bound to the NIC (`dev` would clamp its MTU
//   to underlay - 50). So a container that raises its MTU gets ICMP "fragmentation needed"
//   (mtu = underlay - 50) from the vxlan's bridged-PMTU code (Linux >= 5.9) instead of a
//   silent drop at the veth or the bridge, and TCP recovers via PMTU discovery.
// - No address on the bridge: the overlay has no exit, and an address here would route
//   between networks through the host.
// - Metadata the kernel has no field for lives in ifalias (see names.ts); `actual()` and a
//   restarted process read everything back from the kernel.
// - Remote endpoints, flood lists and the read-back go over one rtnetlink socket with the FDB
//   and neighbours of each vxlan device kept in memory (remote-table.ts, dump.ts): with a
//   process per entry, 1,000 endpoints over 3 hosts did not converge (2026-12). Device
//   creation stays one `ip -batch` per network.
// - Kernel vxlan accepts VXLAN from any source for a known VNI: `setMembers` only sets the
//   flood list; source filtering is the bpf datapath's job (as with Docker).
import { NotFoundError, ValidationError } from '../../errors/index.ts'
import {
  assertHostAddress,
  assertIfname,
  assertVni,
  batch,
  exec,
  findUnderlay,
  IFNAME_PREFIX,
  iprouteJson,
  parseCidr,
  parseIPv4,
  ensureHostPair,
  handOverIfnameFor,
  plumbEndpoint,
  unplumbEndpoint,
  type UnderlayNic,
} from '../../net/index.ts'
import type {
  ActualState,
  Datapath,
  DatapathOptions,
  LocalEndpointSpec,
  NetworkSpec,
  RemoteEndpointSpec,
  VniStats,
} from '../types.ts'
import { checkRemote, checkRemoteKey } from '../validate.ts'
import { KeyedSerializer } from './lock.ts'
import { RemoteTables } from './remote-table.ts'
import { asLeft } from './links.ts'
import { ignoreMissing, removeKernelDatapath } from './remove.ts'
import { takeOverFromBpf } from '../switch.ts'
import {
  bridgeName,
  endpointAlias,
  networkAlias,
  parseNetworkAlias,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  vxlanName,
  type NetworkMeta,
} from './names.ts'
import { actualFrom, networksOf, statsFrom, type LinkJson } from './read.ts'
import { dumpKernel } from './dump.ts'

export { VXLAN_OVERHEAD, VXLAN_PORT } from './names.ts'

/**
 * Create the kernel (bridge + vxlan) datapath for this host. Must run inside the host's
 * netns. Nothing is touched until `start()`.
 */
export function createKernelDatapath(opts: DatapathOptions): Datapath {
  return new KernelDatapath(opts)
}

class KernelDatapath implements Datapath {
  readonly kind = 'kernel' as const
  private readonly advertise: string
  private underlay?: UnderlayNic
  /** Networks known to this process (filled from the kernel on start). */
  private nets = new Map<number, NetworkMeta>()
  private serial = new KeyedSerializer<number>()
  /** Remote endpoints and flood lists per VNI, changed over netlink (./remote-table.ts). */
  private remote = new RemoteTables()
  /** vxlan devices (VNI -> ifindex) whose settings this process made or read with `ip -d`. */
  private checkedVxlan = new Map<number, number>()

  constructor(private readonly opts: DatapathOptions) {
    this.advertise = parseIPv4(opts.advertise, 'advertise address')
  }

  async start(): Promise<void> {
    this.underlay = await findUnderlay(this.advertise)
    // a host switched from the bpf datapath: wfgro holds UDP 4789 and BPF sits on the underlay
    const tookOver = await takeOverFromBpf(this.opts)
    if (tookOver.length) this.opts.onTakeOver?.({ from: 'bpf', removed: tookOver })
    const view = dumpKernel(this.remote.rtnl())
    this.remote.seed(view)
    this.nets.clear()
    for (const [vni, n] of networksOf(view)) if (n.meta) this.nets.set(vni, n.meta)
  }

  private async ul(): Promise<UnderlayNic> {
    if (!this.underlay) await this.start()
    return this.underlay!
  }

  upsertNetwork(net: NetworkSpec): Promise<void> {
    const vni = assertVni(net.vni)
    const subnet = parseCidr(net.subnet, `subnet of network ${vni}`)
    assertHostAddress(net.gateway, subnet, `gateway of network ${vni}`)
    return this.serial.run(vni, async () => {
      const ul = await this.ul()
      const maxMtu = ul.mtu - VXLAN_OVERHEAD
      if (!Number.isInteger(net.mtu) || net.mtu < 576 || net.mtu > maxMtu) {
        throw new ValidationError(
          `MTU ${net.mtu} of network ${vni} is out of range: 576..${maxMtu} (underlay ${ul.ifname} MTU ${ul.mtu} - ${VXLAN_OVERHEAD} VXLAN overhead)`,
        )
      }
      const meta: NetworkMeta = {
        vni,
        subnet: subnet.cidr,
        mtu: net.mtu,
        id12: (net.id ?? '').slice(0, 12).toLowerCase(),
      }
      const br = bridgeName(vni)
      const vx = vxlanName(vni)
      // netlink first (no process): a network as this process left it needs nothing, and one
      // with neither device needs no `ip -d` read (only that shows the vxlan's settings)
      const sock = this.remote.rtnl()
      const seen = { br: sock.getLink(br), vx: sock.getLink(vx) }
      if (asLeft(seen, this.checkedVxlan.get(vni), ul.mtu, networkAlias(meta))) {
        this.nets.set(vni, meta)
        return
      }
      const fresh = !seen.br && !seen.vx
      const [brLink] = fresh
        ? []
        : await iprouteJson<LinkJson>(['ip', '-d', 'link', 'show', 'dev', br], { missingOk: true })
      const [vxLink] = fresh
        ? []
        : await iprouteJson<LinkJson>(['ip', '-d', 'link', 'show', 'dev', vx], { missingOk: true })
      const lines: string[] = []
      if (brLink && brLink.linkinfo?.info_kind !== 'bridge') lines.push(`link del dev ${br}`)
      if (!brLink || brLink.linkinfo?.info_kind !== 'bridge') {
        lines.push(
          `link add ${br} mtu ${ul.mtu} type bridge`,
          `link set dev ${br} addrgenmode none`,
        )
      }
      const d = vxLink?.linkinfo?.info_data
      const vxOk =
        vxLink?.linkinfo?.info_kind === 'vxlan' &&
        d?.id === vni &&
        d.local === this.advertise &&
        d.port === VXLAN_PORT &&
        d.learning === false &&
        d.proxy === true
      if (vxLink && !vxOk) lines.push(`link del dev ${vx}`)
      if (!vxOk) {
        this.remote.created(vni)
        lines.push(
          `link add ${vx} mtu ${ul.mtu} type vxlan id ${vni} local ${this.advertise} dstport ${VXLAN_PORT} nolearning proxy`,
          `link set dev ${vx} addrgenmode none`,
        )
      }
      lines.push(
        `link set dev ${vx} mtu ${ul.mtu} master ${br} up`,
        `link set dev ${br} mtu ${ul.mtu} alias "${networkAlias(meta)}" up`,
      )
      try {
        await batch(lines, { context: `network ${vni}` })
      } catch (err) {
        this.remote.forget(vni)
        // Undo only what this call made: a fresh network is removed whole.
        if (!brLink) await exec(['ip', 'link', 'del', 'dev', br])
        if (!vxOk) await exec(['ip', 'link', 'del', 'dev', vx])
        throw err
      }
      const made = sock.getLink(vx)
      if (made) this.checkedVxlan.set(vni, made.ifindex)
      this.nets.set(vni, meta)
    })
  }

  removeNetwork(vni: number): Promise<void> {
    assertVni(vni)
    return this.serial.run(vni, async () => {
      const br = bridgeName(vni)
      const ports = await iprouteJson<LinkJson>(['ip', 'link', 'show', 'master', br], {
        missingOk: true,
      })
      const lines = [
        ...ports
          .filter((p) => p.ifname.startsWith(IFNAME_PREFIX) && p.ifname !== vxlanName(vni))
          .map((p) => `link del dev ${p.ifname}`),
        `link del dev ${vxlanName(vni)}`,
        `link del dev ${br}`,
      ]
      this.remote.forget(vni)
      this.checkedVxlan.delete(vni)
      await batch(lines, { force: true, context: `remove network ${vni}` }).catch(ignoreMissing)
      this.nets.delete(vni)
    })
  }

  private async network(vni: number): Promise<NetworkMeta> {
    assertVni(vni)
    const known = this.nets.get(vni)
    if (known) return known
    const [br] = await iprouteJson<LinkJson>(['ip', 'link', 'show', 'dev', bridgeName(vni)], {
      missingOk: true,
    })
    const meta = parseNetworkAlias(br?.ifalias)
    if (!meta) {
      throw new NotFoundError(
        `network with VNI ${vni} is not set up on this host: upsert the network first`,
        'network_not_found',
      )
    }
    this.nets.set(vni, meta)
    return meta
  }

  async attachEndpoint(ep: LocalEndpointSpec): Promise<{ ifindex: number }> {
    if (ep.publish?.length) {
      throw new ValidationError(
        'the kernel datapath has no way out of the overlay: ports cannot be published (run the agent with --datapath bpf)',
      )
    }
    const net = await this.network(ep.vni)
    const subnet = parseCidr(net.subnet)
    const ip = parseIPv4(ep.ip, 'endpoint address')
    assertHostAddress(ip, subnet, `endpoint address of network ${ep.vni}`)
    const ul = await this.ul()
    const done =
      ep.plumbing === 'docker'
        ? ensureHostPair({
            hostIfname: ep.hostIfname,
            peerIfname: handOverIfnameFor(ep.id),
            mac: ep.mac,
            mtu: net.mtu,
            hostMtu: ul.mtu,
            master: bridgeName(ep.vni),
            alias: endpointAlias(ep.vni, ip),
          })
        : await plumbEndpoint({
            sandbox: ep.sandbox,
            ifname: ep.ifname,
            hostIfname: ep.hostIfname,
            mac: ep.mac,
            ip,
            prefixLen: subnet.prefixLen,
            mtu: net.mtu,
            hostMtu: ul.mtu,
            master: bridgeName(ep.vni),
            alias: endpointAlias(ep.vni, ip),
          })
    return { ifindex: done.hostIfindex }
  }

  async detachEndpoint(ep: { vni: number; ip: string; hostIfname?: string }): Promise<void> {
    // without a name the veth is gone, and with it its bridge port: nothing else holds it here
    if (ep.hostIfname === undefined) return
    assertIfname(ep.hostIfname, 'host interface name')
    await unplumbEndpoint(ep.hostIfname)
  }

  upsertRemoteEndpoint(ep: RemoteEndpointSpec): Promise<void> {
    const { vni, ip, mac, vtep } = checkRemote(ep)
    return this.serial.run(vni, async () => {
      await this.network(vni)
      await this.remote.upsert(vni, ip, mac, vtep)
    })
  }

  removeRemoteEndpoint(ep: { vni: number; ip: string }): Promise<void> {
    const { vni, ip } = checkRemoteKey(ep)
    return this.serial.run(vni, () => this.remote.remove(vni, ip))
  }

  setMembers(vni: number, vteps: string[]): Promise<void> {
    assertVni(vni)
    if (!Array.isArray(vteps)) throw new ValidationError('vteps must be a list of IPv4 addresses')
    const want = new Set(
      vteps.map((v) => parseIPv4(v, 'member VTEP')).filter((v) => v !== this.advertise),
    )
    return this.serial.run(vni, async () => {
      await this.network(vni)
      await this.remote.setFlood(vni, want)
    })
  }

  async actual(): Promise<ActualState> {
    // a full read anyway: it refreshes the remote tables (a resync sees changes made behind our
    // back); synchronous, so no change of this process can interleave with it
    const view = dumpKernel(this.remote.rtnl())
    this.remote.seed(view)
    return actualFrom(view)
  }

  async stats(): Promise<VniStats[]> {
    const links = await iprouteJson<LinkJson>(['ip', '-s', 'link', 'show', 'type', 'vxlan'], {
      context: 'read vxlan stats',
    })
    return statsFrom(links)
  }

  async close(): Promise<void> {
    // Only the netlink socket: kernel state stays for the next process.
    this.remote.close()
  }

  async teardown(): Promise<void> {
    this.remote.forgetAll()
    this.checkedVxlan.clear()
    await removeKernelDatapath({ endpoints: 'delete' })
    this.nets.clear()
  }
}
