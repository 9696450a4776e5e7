// A veth pair made wholly in the host netns, for sandboxes someone else sets up: Docker's
// remote-driver Join hands the `peer` end to dockerd, which moves it into the container,
// renames it ethN and sets its address, MAC and routes. weft keeps only the host end (TC).
//
// Idempotent: a host end that already exists as a veth is adopted (its peer may be inside a
// container by now) and its settings re-applied; a failed create is undone.
import { ConflictError, ValidationError } from '../errors/index.ts'
import { exec, IprouteError, iprouteJson, iprouteMessage, failedBatchLine } from './exec.ts'
import { parseMac } from './mac.ts'
import { assertIfname } from './names.ts'

export interface HostPairSpec {
  /** Host end, kept by weft; must start with "wf". */
  hostIfname: string
  /** The end handed over (lives in the host netns until its new owner moves it). */
  peerIfname: string
  /** MAC and MTU of the handed-over end (the container's interface). */
  mac: string
  mtu: number
  /** MTU of the host end. */
  hostMtu: number
  master?: string
  alias?: string
}

export interface HostPair {
  hostIfindex: number
  hostMac: string
  adopted: boolean
}

interface LinkJson {
  ifindex: number
  address: string
  linkinfo?: { info_kind?: string }
}

/** Create (or adopt) the pair; resolves with the host end's ifindex. */
export async function ensureHostPair(spec: HostPairSpec): Promise<HostPair> {
  const host = assertIfname(spec.hostIfname, 'host interface name')
  const peer = assertIfname(spec.peerIfname, 'handed-over interface name')
  if (!host.startsWith('wf')) throw new ValidationError(`host interface name "${host}" must start with "wf"`)
  const mac = parseMac(spec.mac, 'endpoint MAC')
  if (spec.alias !== undefined && /[\n"\\]/.test(spec.alias)) throw new ValidationError('interface alias must not hold quotes, backslashes or newlines')
  const settings = [
    `link set dev ${host} mtu ${spec.hostMtu}`,
    spec.master ? `master ${spec.master}` : '',
    spec.alias !== undefined ? `alias "${spec.alias}"` : '',
    'addrgenmode none up',
  ].filter(Boolean).join(' ')
  const existing = await showLink(host)
  if (existing) {
    if (existing.linkinfo?.info_kind !== 'veth') {
      throw new ConflictError(`${host} exists on the host and is not a veth: remove it or pick another name`, 'ifname_taken')
    }
    await batch([settings], `adopt ${host}`)
    const again = await showLink(host)
    if (!again) throw new ConflictError(`${host} vanished while being adopted, retry`, 'ifname_race')
    return { hostIfindex: again.ifindex, hostMac: again.address, adopted: true }
  }
  const lines = [
    `link add ${host} mtu ${spec.hostMtu} type veth peer name ${peer} address ${mac} mtu ${spec.mtu}`,
    // no IPv6 link-local chatter from the handed-over end before its new owner takes it
    `link set dev ${peer} addrgenmode none`,
    settings,
  ]
  try {
    await batch(lines, `create ${host} (peer ${peer})`)
  } catch (e) {
    if (e instanceof IprouteError && e.line !== undefined && e.line > 1) await exec(['ip', 'link', 'del', 'dev', host])
    throw e
  }
  const made = await showLink(host)
  if (!made) throw new ConflictError(`${host} vanished right after it was created, retry`, 'ifname_race')
  return { hostIfindex: made.ifindex, hostMac: made.address, adopted: false }
}

async function batch(lines: string[], context: string): Promise<void> {
  const r = await exec(['ip', '-batch', '-'], lines.join('\n') + '\n')
  if (r.code === 0) return
  const line = failedBatchLine(r.stderr)
  throw new IprouteError(`${context}: \`ip ${line !== undefined ? lines[line - 1] : lines.join(' ; ')}\` failed: ${iprouteMessage(r.stderr)}`, r.stderr, line)
}

async function showLink(name: string): Promise<LinkJson | undefined> {
  return (await iprouteJson<LinkJson>(['ip', '-d', 'link', 'show', 'dev', name], { missingOk: true }))[0]
}

/**
 * Name of the handed-over end while it is still in the host netns: "wfd" + 10 hex of the
 * endpoint id (13 chars, so it never equals a 12-char host end "wf" + 10 hex).
 */
export function handOverIfnameFor(endpointId: string): string {
  if (!/^[0-9a-f]{64}$/.test(endpointId)) throw new ValidationError(`endpoint id "${endpointId}" must be 64 lower-case hex characters`)
  return `wfd${endpointId.slice(0, 10)}`
}
