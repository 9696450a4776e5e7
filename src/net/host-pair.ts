// A veth pair made wholly in the host netns, for sandboxes someone else sets up: Docker's
// remote-driver Join hands the other end to dockerd, which moves it into the container,
// renames it ethN and sets its address, MAC and routes. weft keeps only the host end (TC).
//
// Idempotent: a host end that already exists as a veth is adopted (its peer may be inside a
// container by now) and its settings re-applied; a create that fails half-way is undone.
import { closeSync, openSync } from 'node:fs'
import { ConflictError, NotFoundError, ValidationError, WeftError } from '../errors/index.ts'
import { Errno, getLibc } from '../sys/index.ts'
import { IFNAME_PREFIX } from './constants.ts'
import { parseMac } from './mac.ts'
import { assertIfname } from './names.ts'
import { NetlinkError, RtnlSocket } from './netlink.ts'

export interface HostPairSpec {
  /** Host end, kept by weft; starts with "wf". */
  hostIfname: string
  /** The end handed over (in the host netns until its new owner moves it). */
  peerIfname: string
  /** MAC and MTU of the handed-over end (the container's interface). */
  mac: string
  mtu: number
  /** MTU of the host end. */
  hostMtu: number
  /** Bridge to enslave the host end to (kernel datapath). */
  master?: string
  /** ifalias of the host end. */
  alias?: string
}

export interface HostPair {
  hostIfindex: number
  hostMac: string
  adopted: boolean
}

/** Create (or adopt) the pair; returns the host end's ifindex and MAC. */
export function ensureHostPair(spec: HostPairSpec): HostPair {
  const host = assertIfname(spec.hostIfname, 'host interface name')
  const peer = assertIfname(spec.peerIfname, 'handed-over interface name')
  if (!host.startsWith(IFNAME_PREFIX))
    throw new ValidationError(`host interface name "${host}" must start with "${IFNAME_PREFIX}"`)
  const mac = parseMac(spec.mac, 'endpoint MAC')
  let master: number | undefined
  if (spec.master !== undefined) {
    master = getLibc().ifNameToIndex(spec.master)
    if (!master)
      throw new NotFoundError(
        `create ${host}: bridge ${spec.master} does not exist`,
        'bridge_not_found',
      )
  }
  const where = `endpoint ${host} (handed-over end ${peer})`
  const rtnl = RtnlSocket.open()
  try {
    const existing = rtnl.getLink(host)
    if (existing) {
      if (existing.kind !== 'veth')
        throw new ConflictError(
          `${host} exists on the host and is not a veth: remove it or pick another name`,
          'ifname_taken',
        )
      rtnl.setLink(host, { mtu: spec.hostMtu, master, alias: spec.alias, up: true })
      return { hostIfindex: existing.ifindex, hostMac: existing.mac, adopted: true }
    }
    const selfNs = openSync('/proc/thread-self/ns/net', 'r')
    try {
      rtnl.createVeth({
        name: host,
        mtu: spec.hostMtu,
        master,
        peer: { name: peer, netnsFd: selfNs, mac, mtu: spec.mtu },
      })
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === Errno.EEXIST) {
        throw new ConflictError(
          `create ${where}: ${peer} already exists on the host: remove it`,
          'ifname_taken',
        )
      }
      throw new WeftError('plumb_failed', `create ${where}: ${(e as Error).message}`, { cause: e })
    } finally {
      closeSync(selfNs)
    }
    try {
      // addrgenmode before up: the kernel applies IFF_UP before IFLA_AF_SPEC within one request
      rtnl.setLink(peer, {})
      rtnl.setLink(host, { alias: spec.alias })
      rtnl.setLink(host, { up: true })
      const made = rtnl.getLink(host)
      if (!made) throw new WeftError('link_vanished', `${host} vanished right after it was created`)
      return { hostIfindex: made.ifindex, hostMac: made.mac, adopted: false }
    } catch (e) {
      rtnl.deleteLink(host) // removes both ends
      throw new WeftError('plumb_failed', `configure ${where}: ${(e as Error).message}`, {
        cause: e,
      })
    }
  } finally {
    rtnl.close()
  }
}

/**
 * Name of the handed-over end while it is still in the host netns: "wfd" + 10 hex of the
 * endpoint id (13 chars, so it never equals a 12-char host end "wf" + 10 hex).
 */
export function handOverIfnameFor(endpointId: string): string {
  if (!/^[0-9a-f]{64}$/.test(endpointId))
    throw new ValidationError(`endpoint id "${endpointId}" must be 64 lower-case hex characters`)
  return `${IFNAME_PREFIX}d${endpointId.slice(0, 10)}`
}
