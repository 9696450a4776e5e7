// Finding the underlay NIC: the interface in the current netns that carries the advertise
// address (the VTEP address), read over rtnetlink.
import { NotFoundError } from '../errors/index.ts'
import { parseIPv4 } from './ip.ts'
import { RtnlSocket, type NlAddress, type NlLink } from './netlink.ts'

/** The NIC that carries the advertise address. */
export interface UnderlayNic {
  ifname: string
  ifindex: number
  mtu: number
  mac: string
  /** The advertise address itself and its prefix length on the NIC. */
  ip: string
  prefixLen: number
}

/** Pick the NIC carrying `advertise` from the netns's IPv4 addresses and links (pure). */
export function pickUnderlay(
  addrs: NlAddress[],
  links: (ifindex: number) => NlLink | undefined,
  advertise: string,
): UnderlayNic | undefined {
  const a = addrs.find((x) => x.ip === advertise)
  const link = a && links(a.ifindex)
  if (!a || !link) return undefined
  return {
    ifname: link.ifname,
    ifindex: link.ifindex,
    mtu: link.mtu,
    mac: link.mac,
    ip: advertise,
    prefixLen: a.prefixLen,
  }
}

/** The first IPv4 address of the interface called `ifname` in the current netns, or undefined. */
export function interfaceAddress(ifname: string): string | undefined {
  const sock = RtnlSocket.open()
  try {
    const link = sock.getLink(ifname)
    return link && sock.addresses(link.ifindex)[0]?.ip
  } finally {
    sock.close()
  }
}

/** Find the underlay NIC in the current netns; throws NotFoundError when no NIC has the address. */
export async function findUnderlay(advertise: string): Promise<UnderlayNic> {
  const ip = parseIPv4(advertise, 'advertise address')
  const sock = RtnlSocket.open()
  let nic: UnderlayNic | undefined
  try {
    nic = pickUnderlay(sock.addresses(), (i) => sock.getLink(i), ip)
  } finally {
    sock.close()
  }
  if (!nic) {
    throw new NotFoundError(
      `advertise address ${ip} is not assigned to any interface in this network namespace: ` +
        'pass an address of this host (see `ip -4 addr`)',
      'underlay_not_found',
    )
  }
  return nic
}
