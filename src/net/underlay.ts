// Finding the underlay NIC: the interface in the current netns that carries the
// advertise address (the VTEP address).
import { NotFoundError } from '../errors/index.ts'
import { iprouteJson } from './exec.ts'
import { parseIPv4 } from './ip.ts'

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

interface IpAddrJson {
  ifindex: number
  ifname: string
  mtu: number
  address?: string
  addr_info?: { family: string; local: string; prefixlen: number }[]
}

/** Pick the NIC carrying `advertise` from `ip -j addr` output (pure). */
export function pickUnderlay(addrs: IpAddrJson[], advertise: string): UnderlayNic | undefined {
  for (const link of addrs) {
    const a = link.addr_info?.find((x) => x.family === 'inet' && x.local === advertise)
    if (a) {
      return {
        ifname: link.ifname,
        ifindex: link.ifindex,
        mtu: link.mtu,
        mac: link.address ?? '',
        ip: advertise,
        prefixLen: a.prefixlen,
      }
    }
  }
  return undefined
}

/** Find the underlay NIC in the current netns; throws NotFoundError when no NIC has the address. */
export async function findUnderlay(advertise: string): Promise<UnderlayNic> {
  const ip = parseIPv4(advertise, 'advertise address')
  const addrs = await iprouteJson<IpAddrJson>(['ip', '-4', 'addr', 'show'], { context: 'find underlay' })
  const nic = pickUnderlay(addrs, ip)
  if (!nic) {
    throw new NotFoundError(
      `advertise address ${ip} is not assigned to any interface in this network namespace: ` +
        'pass an address of this host (see `ip -4 addr`)',
      'underlay_not_found',
    )
  }
  return nic
}
