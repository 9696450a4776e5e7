// The NetworkDriver.* and IpamDriver.* handlers: Docker's calls turned into weft's
// (DockerBackend) and back. State kept here is only what Docker's protocol leaves out:
// which weft network a Docker NetworkID stands for (each host's Docker has its own ids),
// networks being created (Docker tells the name only after CreateNetwork returns), and
// address reservations not yet turned into endpoints (RequestAddress carries no endpoint).
//
// Design notes (2026-12):
// - Scope "local": on a daemon without swarm Docker refuses "global" ("This node is not a
//   swarm manager"), and Debian's build has no --cluster-store. Every host's agent creates the
//   network in its own Docker instead (network-sync.ts), so `docker network ls` shows it with
//   SCOPE local on every host.
// - Pool ids are the subnet ("weft:10.0.1.0/24"): weft's subnets never overlap, so the id is the
//   same on every host and survives restarts of both dockerd and the agent.
// - Join hands over a veth end made in the host netns (the datapath's "docker" plumbing):
//   Docker moves it, names it ethN, sets the IPAM address, the MAC we gave at CreateEndpoint
//   and the default route. weft attaches only to the host end.
import { ConflictError, NotFoundError, ValidationError } from '../errors/index.ts'
import { defaultGateway, nextDefaultSubnet, subnetsOverlap } from '../cluster/index.ts'
import {
  handOverIfnameFor,
  macFromIp,
  parseCidr,
  parseIPv4,
  ipInSubnet,
  type Cidr,
} from '../net/index.ts'
import type { Logger } from '../log.ts'
import type { DockerBackend, NetworkRecord } from './backend.ts'
import { containerNetns } from './container-netns.ts'
import type { DockerEngine } from './engine.ts'
import { isInternal, newNetworkFromDocker, parseDriverOptions } from './options.ts'
import {
  ADDRESS_SPACE,
  GATEWAY_ADDRESS_TYPE,
  GENERIC_OPTION,
  poolIdFor,
  REQUEST_ADDRESS_TYPE,
  subnetOfPoolId,
  WEFT_NETWORK_ID_OPTION,
  type CreateEndpointRequest,
  type CreateNetworkRequest,
  type JoinReply,
  type JoinRequest,
  type ReleaseAddressRequest,
  type RequestAddressRequest,
  type RequestPoolRequest,
} from './protocol.ts'

/** How long calls wait for a network `docker network create` is still making. */
const PENDING_WAIT_MS = 15_000
/** How long the name of a new Docker network or endpoint is looked for in Docker's API. */
const LEARN_TIMEOUT_MS = 15_000

const IPAM_HINT =
  "weft networks take their addresses from weft's cluster-wide IPAM: add --ipam-driver weft " +
  "(Docker's default IPAM hands out addresses per host, which would collide across hosts)"

type Reply = Record<string, unknown>

interface Pending {
  subnet: string
  done: Promise<NetworkRecord | undefined>
}

export interface HandlerDeps {
  backend: DockerBackend
  engine: DockerEngine
  log: Logger
  /** weft refused a DeleteNetwork (endpoints elsewhere): Docker removes its network anyway, to be put back. */
  onDeleteRefused?(dockerId: string): void
}

export class DockerHandlers {
  /** Docker NetworkID (this host) -> weft network id. */
  private readonly byDockerId = new Map<string, string>()
  /** Docker NetworkIDs whose weft network `docker network create` is making right now. */
  private readonly pending = new Map<string, Pending>()
  /** "networkId/ip" -> endpoint id reserved by RequestAddress. */
  private readonly reserved = new Map<string, string>()
  /** Docker NetworkIDs this agent removes itself (the weft network is already gone). */
  readonly removingOurselves = new Set<string>()
  /** Docker EndpointIDs between CreateEndpoint and Join (not yet listed by Docker's API). */
  readonly inFlight = new Set<string>()

  constructor(private readonly deps: HandlerDeps) {}

  /** Remember that a Docker network stands for a weft network (the network sync finds these). */
  mapNetwork(dockerId: string, weftId: string): void {
    this.byDockerId.set(dockerId, weftId)
  }

  /** Docker ids being made by `docker network create` on this host (not to be touched by the sync). */
  pendingDockerIds(): Set<string> {
    return new Set(this.pending.keys())
  }

  pendingSubnets(): Set<string> {
    return new Set([...this.pending.values()].map((p) => p.subnet))
  }

  /** Reservations the backend reclaimed (orphaned): a late CreateEndpoint must not use them. */
  forgetReservations(reclaimed: readonly { id: string; networkId: string; ip: string }[]): void {
    for (const r of reclaimed) {
      const key = `${r.networkId}/${r.ip}`
      if (this.reserved.get(key) === r.id) this.reserved.delete(key)
    }
  }

  /** Dispatch one plugin call by its path ("/NetworkDriver.Join"); undefined when unknown. */
  handler(method: string): ((body: any) => Promise<Reply>) | undefined {
    const table: Record<string, (body: any) => Promise<Reply>> = {
      'Plugin.Activate': async () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
      'NetworkDriver.GetCapabilities': async () => ({
        Scope: 'local',
        ConnectivityScope: 'global',
      }),
      'NetworkDriver.CreateNetwork': (b) => this.createNetwork(b),
      'NetworkDriver.DeleteNetwork': (b) => this.deleteNetwork(b),
      'NetworkDriver.AllocateNetwork': async () => ({}),
      'NetworkDriver.FreeNetwork': async () => ({}),
      'NetworkDriver.CreateEndpoint': (b) => this.createEndpoint(b),
      'NetworkDriver.DeleteEndpoint': (b) => this.deleteEndpoint(b),
      'NetworkDriver.EndpointOperInfo': async () => ({ Value: {} }),
      'NetworkDriver.Join': (b) => this.join(b),
      'NetworkDriver.Leave': async () => ({}),
      // weft networks have no way out of the overlay: nothing to program or revoke
      'NetworkDriver.ProgramExternalConnectivity': async () => ({}),
      'NetworkDriver.RevokeExternalConnectivity': async () => ({}),
      'NetworkDriver.DiscoverNew': async () => ({}),
      'NetworkDriver.DiscoverDelete': async () => ({}),
      'IpamDriver.GetCapabilities': async () => ({
        RequiresMACAddress: false,
        RequiresRequestReplay: false,
      }),
      'IpamDriver.GetDefaultAddressSpaces': async () => ({
        LocalDefaultAddressSpace: ADDRESS_SPACE,
        GlobalDefaultAddressSpace: ADDRESS_SPACE,
      }),
      'IpamDriver.RequestPool': (b) => this.requestPool(b),
      'IpamDriver.ReleasePool': async () => ({}),
      'IpamDriver.RequestAddress': (b) => this.requestAddress(b),
      'IpamDriver.ReleaseAddress': (b) => this.releaseAddress(b),
    }
    return table[method]
  }

  // --- IPAM ---

  private async requestPool(b: RequestPoolRequest): Promise<Reply> {
    if (b.V6)
      throw new ValidationError('weft networks are IPv4 only: create the network without --ipv6')
    if (b.AddressSpace && b.AddressSpace !== ADDRESS_SPACE) {
      throw new ValidationError(
        `address space "${b.AddressSpace}" is not weft's ("${ADDRESS_SPACE}")`,
      )
    }
    const weftId = b.Options?.[WEFT_NETWORK_ID_OPTION]
    if (weftId) {
      const net = this.deps.backend.network(weftId)
      if (!net)
        throw new NotFoundError(`weft network ${weftId.slice(0, 12)} does not exist (any more)`)
      return { PoolID: poolIdFor(net.subnet), Pool: net.subnet, Data: {} }
    }
    const used = [
      ...this.deps.backend.networks().map((n) => n.subnet),
      ...this.pendingSubnets(),
    ].map((s) => parseCidr(s))
    let subnet: Cidr
    if (b.Pool) {
      subnet = parseCidr(b.Pool, 'subnet')
      if (subnet.prefixLen > 30)
        throw new ValidationError(`subnet ${subnet.cidr} is too small: use /30 or larger`)
      const clash = this.deps.backend
        .networks()
        .find((n) => subnetsOverlap(parseCidr(n.subnet), subnet))
      if (clash)
        throw new ConflictError(
          `subnet ${subnet.cidr} overlaps weft network ${clash.name} (${clash.subnet})`,
        )
      if (this.pendingSubnets().has(subnet.cidr))
        throw new ConflictError(`subnet ${subnet.cidr} is being used by a network being created`)
    } else {
      const free = nextDefaultSubnet(used)
      if (!free) throw new ConflictError('no free default subnet in 10.0.0.0/16: pass --subnet')
      subnet = free
    }
    if (b.SubPool) {
      const range = parseCidr(b.SubPool, 'ip-range')
      if (!(ipInSubnet(range.network, subnet) && ipInSubnet(range.broadcast, subnet))) {
        throw new ValidationError(`ip-range ${range.cidr} is not inside the subnet ${subnet.cidr}`)
      }
    }
    return { PoolID: poolIdFor(subnet.cidr), Pool: subnet.cidr, Data: {} }
  }

  private async requestAddress(b: RequestAddressRequest): Promise<Reply> {
    const subnet = this.poolSubnet(b.PoolID)
    const requested = b.Address ? parseIPv4(b.Address.replace(/\/\d+$/, ''), 'address') : undefined
    if (b.Options?.[REQUEST_ADDRESS_TYPE] === GATEWAY_ADDRESS_TYPE) {
      // once per host per network: the gateway is a property of the weft network, not a lease
      const net = this.deps.backend.networks().find((n) => n.subnet === subnet.cidr)
      const gw = requested ?? net?.gateway ?? defaultGateway(subnet)
      if (net && gw !== net.gateway)
        throw new ConflictError(`network ${net.name}'s gateway is ${net.gateway}, not ${gw}`)
      return { Address: `${gw}/${subnet.prefixLen}`, Data: {} }
    }
    const net = await this.networkWithSubnet(subnet.cidr)
    const { ip, id } = await this.deps.backend.allocateAddress(net.id, requested)
    this.reserved.set(`${net.id}/${ip}`, id)
    return { Address: `${ip}/${subnet.prefixLen}`, Data: {} }
  }

  private async releaseAddress(b: ReleaseAddressRequest): Promise<Reply> {
    const subnet = this.poolSubnet(b.PoolID)
    const net = this.deps.backend.networks().find((n) => n.subnet === subnet.cidr)
    if (!net || !b.Address) return {}
    const ip = b.Address.replace(/\/\d+$/, '')
    const key = `${net.id}/${ip}`
    // a reservation of the last run of this agent too: Docker retries a ReleaseAddress that
    // reached no plugin (agent down) and the restarted agent answers it
    const id = this.reserved.get(key) ?? (await this.deps.backend.reservationOf(net.id, ip))
    if (id) {
      // deletes the address only while it is still our reservation: DeleteEndpoint already
      // freed an endpoint's address, and another host may hold it again by now
      await this.deps.backend.releaseAddress(net.id, ip, id)
      this.reserved.delete(key)
    }
    return {}
  }

  private poolSubnet(poolId: unknown): Cidr {
    const s = subnetOfPoolId(poolId)
    if (!s) throw new ValidationError(`pool "${String(poolId)}" is not a weft pool: ${IPAM_HINT}`)
    return parseCidr(s, 'pool')
  }

  /** The weft network with this subnet, waiting for one `docker network create` is still making. */
  private async networkWithSubnet(subnet: string): Promise<NetworkRecord> {
    const found = this.deps.backend.networks().find((n) => n.subnet === subnet)
    if (found) return found
    const pending = [...this.pending.values()].find((p) => p.subnet === subnet)
    const made = pending ? await withTimeout(pending.done, PENDING_WAIT_MS) : undefined
    if (made) return made
    throw new NotFoundError(`no weft network has subnet ${subnet}`)
  }

  // --- networks ---

  private async createNetwork(b: CreateNetworkRequest): Promise<Reply> {
    if (b.IPv6Data?.length)
      throw new ValidationError('weft networks are IPv4 only: create the network without --ipv6')
    const v4 = b.IPv4Data?.[0]
    if (!v4 || v4.AddressSpace !== ADDRESS_SPACE || !v4.Pool) throw new ValidationError(IPAM_HINT)
    const opts = parseDriverOptions(
      b.Options?.[GENERIC_OPTION] as Record<string, unknown> | undefined,
    )
    if (opts.weftId) {
      // made by an agent for a weft network that already exists
      const net = this.deps.backend.network(opts.weftId)
      if (!net)
        throw new NotFoundError(
          `weft network ${opts.weftId.slice(0, 12)} does not exist (any more)`,
        )
      if (net.subnet !== v4.Pool)
        throw new ValidationError(
          `weft network ${net.name} has subnet ${net.subnet}, not ${v4.Pool}`,
        )
      this.mapNetwork(b.NetworkID, net.id)
      return {}
    }
    // `docker network create` on this host: refuse now what weft would refuse, then create the
    // weft network once Docker can tell its name and labels (right after this call returns)
    const nets = this.deps.backend.networks()
    if (opts.vni !== undefined) {
      const owner = nets.find((n) => n.vni === opts.vni)
      if (owner) throw new ConflictError(`VNI ${opts.vni} is taken by weft network ${owner.name}`)
    }
    const subnet = parseCidr(v4.Pool, 'subnet')
    const clash = nets.find((n) => subnetsOverlap(parseCidr(n.subnet), subnet))
    if (clash)
      throw new ConflictError(
        `subnet ${subnet.cidr} overlaps weft network ${clash.name} (${clash.subnet})`,
      )
    const done = this.adoptNew(b.NetworkID).finally(() => this.pending.delete(b.NetworkID))
    this.pending.set(b.NetworkID, { subnet: subnet.cidr, done })
    return {}
  }

  /** Create the weft network for a Docker network made here; undefined (and the Docker network removed) on failure. */
  private async adoptNew(dockerId: string): Promise<NetworkRecord | undefined> {
    const { backend, engine, log } = this.deps
    try {
      const deadline = Date.now() + LEARN_TIMEOUT_MS
      let dn
      for (;;) {
        try {
          dn = await engine.network(dockerId)
          break
        } catch (e) {
          if (!(e instanceof NotFoundError) || Date.now() > deadline) throw e
          await Bun.sleep(25) // Docker stores the network only after CreateNetwork returned
        }
      }
      const rec = await backend.createNetwork(newNetworkFromDocker(dn))
      this.mapNetwork(dockerId, rec.id)
      log.info(
        { network: rec.name, id: rec.id.slice(0, 12), subnet: rec.subnet },
        'created weft network for docker network',
      )
      return rec
    } catch (e) {
      log.error(
        { dockerNetwork: dockerId.slice(0, 12), err: (e as Error).message },
        'docker network could not become a weft network; removing it from docker',
      )
      await engine
        .removeNetwork(dockerId)
        .catch((err: Error) =>
          log.error({ err: err.message }, 'removing the docker network failed too'),
        )
      return undefined
    }
  }

  private async deleteNetwork(b: { NetworkID: string }): Promise<Reply> {
    const id = b.NetworkID
    if (this.removingOurselves.has(id)) {
      this.byDockerId.delete(id)
      return {}
    }
    await this.pending.get(id)?.done
    const weftId = this.byDockerId.get(id)
    this.byDockerId.delete(id)
    if (!weftId || !this.deps.backend.network(weftId)) return {}
    try {
      await this.deps.backend.removeNetwork(weftId)
    } catch (e) {
      if (e instanceof NotFoundError) return {}
      // Docker removes its network even so; the network sync puts it back on this host
      this.deps.onDeleteRefused?.(id)
      throw e
    }
    return {}
  }

  /** The weft network of a Docker NetworkID of this host. */
  private async weftNetwork(dockerId: string): Promise<NetworkRecord> {
    const pending = this.pending.get(dockerId)
    if (pending) await withTimeout(pending.done, PENDING_WAIT_MS)
    let weftId = this.byDockerId.get(dockerId)
    if (!weftId) {
      // after an agent restart: ask Docker which network this is
      const dn = await this.deps.engine.network(dockerId)
      const byOption = dn.Options?.[WEFT_NETWORK_ID_OPTION]
      const subnet = dn.IPAM?.Config?.[0]?.Subnet
      weftId =
        byOption ??
        this.deps.backend.networks().find((n) => n.name === dn.Name && n.subnet === subnet)?.id
      if (weftId) this.mapNetwork(dockerId, weftId)
    }
    const net = weftId ? this.deps.backend.network(weftId) : undefined
    if (!net)
      throw new NotFoundError(
        `docker network ${dockerId.slice(0, 12)} is not (or no longer) a weft network`,
      )
    return net
  }

  // --- endpoints ---

  private async createEndpoint(b: CreateEndpointRequest): Promise<Reply> {
    const net = await this.weftNetwork(b.NetworkID)
    if (b.Interface?.AddressIPv6) throw new ValidationError('weft networks are IPv4 only')
    if (!b.Interface?.Address)
      throw new ValidationError(`endpoint has no IPv4 address: ${IPAM_HINT}`)
    const ip = parseIPv4(b.Interface.Address.replace(/\/\d+$/, ''), 'endpoint address')
    const key = `${net.id}/${ip}`
    const id = this.reserved.get(key) ?? (await this.deps.backend.addressOwner(net.id, ip))
    if (!id)
      throw new ConflictError(`address ${ip} was not handed out by weft's IPAM: ${IPAM_HINT}`)
    const mac = b.Interface.MacAddress || macFromIp(ip)
    this.inFlight.add(b.EndpointID)
    try {
      await this.deps.backend.createEndpoint({
        networkId: net.id,
        id,
        ip,
        mac,
        name: b.EndpointID.slice(0, 12),
        dockerEndpoint: b.EndpointID,
      })
    } catch (e) {
      this.inFlight.delete(b.EndpointID)
      throw e
    }
    // a MAC Docker already has (docker run --mac-address) must not be given back
    return b.Interface.MacAddress ? {} : { Interface: { MacAddress: mac } }
  }

  private async deleteEndpoint(b: { NetworkID: string; EndpointID: string }): Promise<Reply> {
    this.inFlight.delete(b.EndpointID)
    const rec = this.deps.backend.dockerEndpoints().find((e) => e.dockerEndpoint === b.EndpointID)
    if (rec) await this.deps.backend.removeEndpoint(rec.networkId, rec.id)
    return {}
  }

  private async join(b: JoinRequest): Promise<Reply> {
    const rec = this.deps.backend.dockerEndpoints().find((e) => e.dockerEndpoint === b.EndpointID)
    if (!rec)
      throw new NotFoundError(
        `endpoint ${b.EndpointID.slice(0, 12)} is unknown to weft: create it first`,
      )
    const net = this.deps.backend.network(rec.networkId)
    if (!net)
      throw new NotFoundError(`the weft network of endpoint ${b.EndpointID.slice(0, 12)} is gone`)
    const reply: JoinReply = {
      InterfaceName: { SrcName: handOverIfnameFor(rec.id), DstPrefix: 'eth' },
    }
    if (!isInternal(net)) reply.Gateway = net.gateway
    void this.learnEndpointName(b.NetworkID, b.EndpointID, rec.networkId, rec.id, b.SandboxKey)
    return reply as unknown as Reply
  }

  /** Docker lists the container once Join returned: its name and aliases become the endpoint's. */
  private async learnEndpointName(
    dockerNet: string,
    dockerEp: string,
    networkId: string,
    id: string,
    sandboxKey: string | undefined,
  ): Promise<void> {
    const deadline = Date.now() + LEARN_TIMEOUT_MS
    try {
      while (Date.now() < deadline) {
        const dn = await this.deps.engine.network(dockerNet)
        const joined = Object.entries(dn.Containers ?? {}).find(
          ([, x]) => x.EndpointID === dockerEp,
        )
        // while the join completes Docker lists the endpoint as "ep-<endpoint id>", not by container
        if (joined && !joined[0].startsWith('ep-')) {
          this.inFlight.delete(dockerEp)
          const [containerId, c] = joined
          let inspect = await this.deps.engine.container(containerId)
          // Docker adds the short container id to the aliases of every user-defined network
          const aliases = [
            ...new Set(
              (inspect.NetworkSettings?.Networks?.[dn.Name]?.Aliases ?? []).filter(
                (a) => a !== c.Name && !containerId.startsWith(a),
              ),
            ),
          ]
          let netns = containerNetns(sandboxKey, inspect.State?.Pid)
          // a netns known only by the container's PID: wait for the container to run, so that
          // name, aliases and netns are one write (no record named but without its netns)
          while (!netns && Date.now() < deadline) {
            await Bun.sleep(50)
            inspect = await this.deps.engine.container(containerId)
            netns = containerNetns(sandboxKey, inspect.State?.Pid)
          }
          await this.deps.backend.renameEndpoint(networkId, id, c.Name, aliases, netns)
          if (!netns)
            this.deps.log.warn(
              { endpoint: dockerEp.slice(0, 12), sandboxKey },
              'the netns of this container is not reachable from the agent: its weft names will not resolve inside it',
            )
          return
        }
        await Bun.sleep(50)
      }
    } catch (e) {
      this.deps.log.warn(
        { endpoint: dockerEp.slice(0, 12), err: (e as Error).message },
        'could not learn the container name of an endpoint',
      )
    } finally {
      this.inFlight.delete(dockerEp)
    }
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let t: ReturnType<typeof setTimeout> | undefined
  const timeout = new Promise<undefined>(
    (resolve) => (t = setTimeout(() => resolve(undefined), ms)),
  )
  try {
    return await Promise.race([p, timeout])
  } finally {
    clearTimeout(t)
  }
}
