// Endpoint plumbing over rtnetlink (./netlink.ts), no process started: a veth pair with one
// end on the host (in the current netns) and the other inside the sandbox as `ethN`,
// addressed, sized and up.
//
//   host socket:     create veth <host> (mtu H, master) with peer <ethN> made directly in the
//                    sandbox (IFLA_NET_NS_FD) with its MAC and MTU, echoed back (ifindex, MAC,
//                    and the peer's ifindex as IFLA_LINK); then one request: set <host>
//                    alias, up, addrgenmode none (safe in one while <ethN> is down)
//   sandbox socket:  one send: set <ethN> addrgenmode none (no IPv6 link-local chatter on the
//                    overlay); addr replace <ip>/<len> (the connected route is the only
//                    route); up; lo up
// A new endpoint costs 3 sends for 6 requests (2026-12, issue 17: was 9 sends, one per
// request, with two read-backs; every request waits for RTNL, shared by every agent).
//
// An existing pair whose peer is `ethN` in the same sandbox is adopted (agent restart) and
// its settings re-applied, so plumbing is idempotent; a host veth whose peer is elsewhere
// (the container was restarted) is replaced. The npm `netlink` package was considered and
// rejected: a native node-gyp addon (awkward inside one `bun build --compile` binary), last
// released 2021.
//
// Failure handling: inputs are validated and the sandbox and bridge are checked before
// anything is made; if a later step fails the new host veth is deleted (which removes both
// ends), so a failed call leaves what was there before.
import { closeSync, openSync } from 'node:fs'
import { ConflictError, NotFoundError, ValidationError, WeftError } from '../errors/index.ts'
import { Errno, getLibc } from '../sys/index.ts'
import { IFNAME_PREFIX } from './constants.ts'
import { parseIPv4 } from './ip.ts'
import { parseMac } from './mac.ts'
import { assertIfname } from './names.ts'
import { hostRtnl, NetlinkError, RtnlSocket, type NlLink } from './netlink.ts'
import { replaceAddressMessage, setLinkMessage } from './netlink-message.ts'
import { resolveSandbox } from './sandbox.ts'

/** What to build for one endpoint. */
export interface PlumbSpec {
  /** ip-netns name, /proc/PID/ns/net, or a netns file path. */
  sandbox: string
  /** Interface name inside the sandbox, e.g. "eth0". */
  ifname: string
  /** Host-side veth name; must start with IFNAME_PREFIX "wf" (weft only touches its own links). */
  hostIfname: string
  /** MAC of the sandbox end. */
  mac: string
  /** IPv4 address of the sandbox end. */
  ip: string
  /** Prefix length of the connected subnet (the only route in the sandbox). */
  prefixLen: number
  /** MTU of the sandbox end (the overlay MTU). */
  mtu: number
  /** MTU of the host end; defaults to `mtu`. */
  hostMtu?: number
  /** Enslave the host end to this bridge. */
  master?: string
  /** ifalias of the host end: metadata that survives agent restarts (kernel datapath uses it). */
  alias?: string
}

/** The result of plumbing: what the datapath needs to program forwarding. */
export interface PlumbedEndpoint {
  hostIfname: string
  hostIfindex: number
  hostMac: string
  /** ifindex of the sandbox end, inside the sandbox. */
  peerIfindex: number
  /** Resolved sandbox netns path. */
  sandboxPath: string
  /** True when an existing matching pair was adopted instead of created. */
  adopted: boolean
}

const MIN_MTU = 68
const MAX_MTU = 65535

/** Validate a PlumbSpec (pure); returns a normalised copy. Throws ValidationError. */
export function validatePlumbSpec(
  spec: PlumbSpec,
): Required<Omit<PlumbSpec, 'master' | 'alias'>> & PlumbSpec {
  const hostIfname = assertIfname(spec.hostIfname, 'host interface name')
  assertOwnIfname(hostIfname)
  const ifname = assertIfname(spec.ifname, 'sandbox interface name')
  const mtu = checkMtu(spec.mtu, 'MTU')
  const hostMtu = checkMtu(spec.hostMtu ?? spec.mtu, 'host MTU')
  if (!Number.isInteger(spec.prefixLen) || spec.prefixLen < 1 || spec.prefixLen > 32) {
    throw new ValidationError(`prefix length ${spec.prefixLen} is out of range (1..32)`)
  }
  if (spec.master !== undefined) assertIfname(spec.master, 'bridge name')
  if (spec.alias !== undefined && (spec.alias.length > 128 || /[\n"\\]/.test(spec.alias))) {
    throw new ValidationError(
      'interface alias must be <= 128 characters without quotes, backslashes or newlines',
    )
  }
  return {
    ...spec,
    hostIfname,
    ifname,
    mtu,
    hostMtu,
    ip: parseIPv4(spec.ip, 'endpoint address'),
    mac: parseMac(spec.mac, 'endpoint MAC'),
  }
}

function checkMtu(mtu: number, what: string): number {
  if (!Number.isInteger(mtu) || mtu < MIN_MTU || mtu > MAX_MTU) {
    throw new ValidationError(`${what} ${mtu} is out of range (${MIN_MTU}..${MAX_MTU})`)
  }
  return mtu
}

type Spec = ReturnType<typeof validatePlumbSpec>

function assertOwnIfname(name: string): void {
  if (!name.startsWith(IFNAME_PREFIX)) {
    throw new ValidationError(
      `host interface name "${name}" must start with "${IFNAME_PREFIX}" (weft only manages its own links)`,
    )
  }
}

/** This thread's rtnetlink socket in the host netns (opened on first use, kept for the process). */
const host = hostRtnl

/** A netlink failure with the endpoint it was part of; anything else unchanged. */
function inContext(where: string, e: unknown): unknown {
  return e instanceof NetlinkError ? e.within(where) : e
}

/**
 * Create (or adopt) an endpoint's veth pair and configure the sandbox end.
 * Bad input, a missing sandbox or bridge changes nothing; a failure half-way is undone.
 */
export async function plumbEndpoint(input: PlumbSpec): Promise<PlumbedEndpoint> {
  const s = validatePlumbSpec(input)
  const sb = resolveSandbox(s.sandbox)
  const where = `endpoint ${s.hostIfname} (${s.ifname} in sandbox ${sb.path})`
  let master: number | undefined
  if (s.master !== undefined) {
    master = getLibc().ifNameToIndex(s.master)
    if (!master)
      throw new NotFoundError(
        `create ${where}: bridge ${s.master} does not exist`,
        'bridge_not_found',
      )
  }
  const sandbox = RtnlSocket.open(sb.path)
  try {
    // Twice at most: a stale host veth (peer elsewhere) is deleted, then the pair made anew.
    for (let attempt = 0; attempt < 2; attempt++) {
      const created = createPair(s, sb.path, master, where)
      if (created) return configureNew(s, created, sandbox, sb.path, where)
      const verdict = existingPair(s, sandbox, sb.path)
      if (verdict === 'adopt') return adopt(s, sandbox, master, sb.path, where)
      try {
        host().deleteLink(s.hostIfname)
      } catch (e) {
        throw inContext(`replace stale ${where}`, e)
      }
    }
    throw new ConflictError(
      `cannot create ${s.hostIfname}: a link of that name keeps reappearing, retry`,
      'ifname_race',
    )
  } finally {
    sandbox.close()
  }
}

/**
 * Make the pair; false when a link called `hostIfname` already exists. True when made but not
 * echoed (an old kernel), else the host end as created.
 */
function createPair(
  s: Spec,
  sandboxPath: string,
  master: number | undefined,
  where: string,
): NlLink | boolean {
  const nsFd = openSync(sandboxPath, 'r') // IFLA_NET_NS_FD
  try {
    const made = host().createVeth({
      name: s.hostIfname,
      mtu: s.hostMtu,
      master,
      peer: { name: s.ifname, netnsFd: nsFd, mac: s.mac, mtu: s.mtu },
    })
    return made?.link !== undefined ? made : true
  } catch (e) {
    if (e instanceof NetlinkError && e.errno === Errno.EEXIST) {
      // EEXIST names no side: either our host name, or `ifname` already in the sandbox
      if (host().getLink(s.hostIfname)) return false
      throw new ConflictError(
        `interface ${s.ifname} already exists in sandbox ${sandboxPath}: choose another interface name or remove it`,
        'ifname_taken',
      )
    }
    throw inContext(`create ${where}`, e)
  } finally {
    closeSync(nsFd)
  }
}

function configureNew(
  s: Spec,
  created: NlLink | true,
  sandbox: RtnlSocket,
  sandboxPath: string,
  where: string,
): PlumbedEndpoint {
  try {
    // Alias, up and addrgenmode none in one request. The kernel applies IFF_UP before
    // IFLA_AF_SPEC within a request, which is safe here only because the sandbox end is still
    // down: without carrier, going up generates no IPv6 link-local, and the mode is none before
    // the link is ready (when the sandbox end comes up). Every request carrying IFLA_AF_SPEC on a
    // link that is not ready walks the netns's whole IPv6 routing table (rt6_sync_down_dev), which
    // holds a multicast route per veth: two requests made that two walks per endpoint
    // (2026-12, issue 17: 0.6 of the agents' 1.3 sys CPU-s in setlink at 3,000 endpoints).
    // Left open: something inside the sandbox that brings the new ethN up before this request
    // (networkd, a udev rule) gives the host end an fe80:: address; the old order had no window.
    host().request(
      `configure ${s.hostIfname} and set it up`,
      setLinkMessage(s.hostIfname, { alias: s.alias, up: true }),
    )
    const hostLink = created === true ? host().getLink(s.hostIfname) : created
    if (!hostLink)
      throw new WeftError(
        'link_vanished',
        `configure ${where}: ${s.hostIfname} vanished right after it was created`,
      )
    const peerIfindex = hostLink.link ?? sandbox.getLink(s.ifname)?.ifindex
    if (peerIfindex === undefined)
      throw new WeftError(
        'link_vanished',
        `${s.ifname} (the peer of ${s.hostIfname}) is not in the sandbox`,
      )
    configureNewSandboxEnd(s, sandbox, peerIfindex)
    return result(s, hostLink, peerIfindex, sandboxPath, false)
  } catch (e) {
    host().deleteLink(s.hostIfname) // removes both ends
    throw inContext(`configure ${where}`, e)
  }
}

function adopt(
  s: Spec,
  sandbox: RtnlSocket,
  master: number | undefined,
  sandboxPath: string,
  where: string,
): PlumbedEndpoint {
  try {
    host().setLink(s.hostIfname, { mtu: s.hostMtu, master, alias: s.alias, up: true })
    const hostLink = host().getLink(s.hostIfname)
    if (!hostLink)
      throw new WeftError(
        'link_vanished',
        `adopt ${where}: ${s.hostIfname} vanished while it was adopted`,
      )
    const peer = configureSandboxEnd(s, sandbox, true)
    return result(s, hostLink, peer.ifindex, sandboxPath, true)
  } catch (e) {
    throw inContext(`adopt ${where}`, e)
  }
}

/**
 * A new sandbox end (its MAC and MTU were set at creation): no IPv6, the one IPv4 address,
 * up, lo up, in one send. `peerIfindex` is its ifindex inside the sandbox (the host end's
 * IFLA_LINK). A failure leaves it to the caller, which deletes the pair.
 */
function configureNewSandboxEnd(s: Spec, sandbox: RtnlSocket, peerIfindex: number): void {
  sandbox.batch([
    { op: `configure ${s.ifname}`, m: setLinkMessage(peerIfindex, {}) },
    {
      op: `add address ${s.ip}/${s.prefixLen}`,
      m: replaceAddressMessage(peerIfindex, s.ip, s.prefixLen),
    },
    { op: `set ${s.ifname} up`, m: setLinkMessage(peerIfindex, { up: true }) },
    // as Docker's containers: the sandbox's loopback is up, so 127.0.0.1 works at once
    { op: 'set lo up', m: setLinkMessage('lo', { up: true }) },
  ])
}

/** MAC, MTU, no IPv6, exactly the one IPv4 address, up (and lo up); returns the link as read back. */
function configureSandboxEnd(s: Spec, sandbox: RtnlSocket, adopted: boolean): NlLink {
  sandbox.setLink(s.ifname, adopted ? { mac: s.mac, mtu: s.mtu } : {})
  const peer = sandbox.getLink(s.ifname)
  if (!peer)
    throw new WeftError(
      'link_vanished',
      `${s.ifname} (the peer of ${s.hostIfname}) is not in the sandbox`,
    )
  if (adopted) {
    for (const a of sandbox.addresses(peer.ifindex)) {
      if (a.ip !== s.ip || a.prefixLen !== s.prefixLen)
        sandbox.deleteAddress(peer.ifindex, a.ip, a.prefixLen)
    }
  }
  sandbox.replaceAddress(peer.ifindex, s.ip, s.prefixLen)
  sandbox.setLink(peer.ifindex, { up: true })
  // as Docker's containers: the sandbox's loopback is up, so 127.0.0.1 works at once
  sandbox.setLink('lo', { up: true })
  return peer
}

function result(
  s: Spec,
  hostLink: NlLink,
  peerIfindex: number,
  sandboxPath: string,
  adopted: boolean,
): PlumbedEndpoint {
  return {
    hostIfname: s.hostIfname,
    hostIfindex: hostLink.ifindex,
    hostMac: hostLink.mac,
    peerIfindex,
    sandboxPath,
    adopted,
  }
}

/**
 * What an existing host veth means: 'adopt' when its peer is `ifname` in the sandbox,
 * 'stale' when its peer is elsewhere (recreate). Throws ConflictError when the sandbox has a
 * different `ifname`, or the host link is not a veth.
 */
function existingPair(s: Spec, sandbox: RtnlSocket, sandboxPath: string): 'adopt' | 'stale' {
  const h = host().getLink(s.hostIfname)
  const p = sandbox.getLink(s.ifname)
  const ours =
    h?.kind === 'veth' && p?.kind === 'veth' && h.link === p.ifindex && p.link === h.ifindex
  if (ours) return 'adopt'
  if (p) {
    throw new ConflictError(
      `interface ${s.ifname} already exists in sandbox ${sandboxPath} and is not the peer of ${s.hostIfname}: ` +
        'choose another interface name or remove it',
      'ifname_taken',
    )
  }
  if (h && h.kind !== 'veth') {
    throw new ConflictError(
      `${s.hostIfname} exists on the host and is not a veth: remove it or pick another name`,
      'ifname_taken',
    )
  }
  return 'stale'
}

/**
 * Delete an endpoint's veth pair by its host end (deleting one end removes both).
 * Returns false when it did not exist.
 */
export async function unplumbEndpoint(hostIfname: string): Promise<boolean> {
  const name = assertIfname(hostIfname, 'host interface name')
  assertOwnIfname(name)
  try {
    return host().deleteLink(name)
  } catch (e) {
    throw inContext(`delete endpoint ${name}`, e)
  }
}

/** Delete many endpoints; missing ones are ignored. Every one is tried; the first failure is thrown after. */
export async function unplumbEndpoints(hostIfnames: string[]): Promise<void> {
  for (const n of hostIfnames) assertIfname(n, 'host interface name')
  let first: unknown
  for (const n of hostIfnames.filter((x) => x.startsWith(IFNAME_PREFIX))) {
    try {
      host().deleteLink(n)
    } catch (e) {
      first ??= inContext(`delete endpoint ${n}`, e)
    }
  }
  if (first) throw first
}
