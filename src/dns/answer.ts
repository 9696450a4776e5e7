// What a sandbox's query gets (pure): an answer from the name table for a name inside the
// overlay, or "forward" for everything else. Inside the overlay, for a sandbox in networks N:
//   NAME            an endpoint name or alias in any network of N (a dotted alias too)
//   NAME.NET        the same, in network NET of N only (Docker's container.network)
//   D.C.B.A.in-addr.arpa   PTR for an address inside the subnet of a network of N
// Unknown names there are NXDOMAIN (never forwarded: overlay names stay on this host); a
// known name asked for another type (AAAA, TXT...) is NOERROR without records (NODATA).
import { CLASS_IN, RCODE, TYPE, type Answer, type Question } from './codec.ts'
import type { NameTable, NetworkNames } from './table.ts'

export type Resolution = { rcode: number; answers: Answer[] } | { forward: true }

const REVERSE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/

export function resolve(table: NameTable, sandbox: string, q: Question): Resolution {
  const nets = (table.sandboxes.get(sandbox) ?? [])
    .map((id) => table.networks.get(id))
    .filter((n): n is NetworkNames => !!n)
  if (q.class !== CLASS_IN || nets.length === 0) return { forward: true }
  const reverse = REVERSE.exec(q.name)
  if (reverse) return resolvePtr(nets, reverse, q.type)
  let ips = nets.flatMap((n) => n.byName.get(q.name) ?? [])
  if (ips.length === 0 && q.name.includes('.')) {
    // a dotted name that is no endpoint name: NAME.NET, or not ours at all
    const net = nets.find((n) => q.name.endsWith(`.${n.network.name.toLowerCase()}`))
    if (!net) return { forward: true }
    ips = net.byName.get(q.name.slice(0, -(net.network.name.length + 1))) ?? []
  }
  if (ips.length === 0) return { rcode: RCODE.NXDOMAIN, answers: [] }
  if (q.type !== TYPE.A && q.type !== TYPE.ANY) return { rcode: RCODE.NOERROR, answers: [] }
  return { rcode: RCODE.NOERROR, answers: [...new Set(ips)].map((ip) => ({ type: TYPE.A, ip })) }
}

function resolvePtr(nets: NetworkNames[], m: RegExpExecArray, type: number): Resolution {
  const octets = [m[4], m[3], m[2], m[1]].map(Number)
  if (octets.some((o) => o > 255)) return { forward: true }
  const ip = octets.join('.')
  const n = ((octets[0]! << 24) >>> 0) + (octets[1]! << 16) + (octets[2]! << 8) + octets[3]!
  const inside = nets.filter((net) => n >= net.range[0] && n <= net.range[1])
  if (inside.length === 0) return { forward: true }
  for (const net of inside) {
    const name = net.byIp.get(ip)
    if (!name) continue
    if (type !== TYPE.PTR && type !== TYPE.ANY) return { rcode: RCODE.NOERROR, answers: [] }
    return {
      rcode: RCODE.NOERROR,
      answers: [{ type: TYPE.PTR, name: `${name}.${net.network.name}` }],
    }
  }
  return { rcode: RCODE.NXDOMAIN, answers: [] }
}
