// `weft endpoint ls`: every endpoint of every network, the way `docker ps` lists containers:
// ENDPOINT ID, NAME, NETWORK, ADDRESS, MAC, NODE, PORTS, STATUS. -q for ids, --no-trunc,
// --filter network=|node=|name=|id=|status=, --format table|json|TEMPLATE.
import { flagBool, flagList, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { applyFilters, nameMatches, parseFilters, type FilterKey } from './_filters.ts'
import { shortId, table } from './_format.ts'
import { parseListFormat, printListing } from './_listing.ts'
import type { DockerNetwork, Endpoint, PublishedPort } from './_types.ts'
import { goStruct } from './template/index.ts'
import type { RunInput } from './spec.ts'

/** "0.0.0.0:8080->80/tcp", as `docker ps` shows a published port. */
export const publishedText = (p: PublishedPort) =>
  `${p.hostIp ?? '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.proto}`

/** Attach status on its own node; endpoints elsewhere are "remote", external ones "external". */
export const endpointStatus = (e: Endpoint) => e.status ?? (e.external ? 'external' : 'remote')

interface Listed {
  ep: Endpoint
  network: string
}

export const endpointRow = ({ ep, network }: Listed, noTrunc = false) =>
  goStruct({
    ID: noTrunc ? ep.id : shortId(ep.id),
    Name: ep.name,
    Network: network,
    NetworkID: noTrunc ? ep.networkId : shortId(ep.networkId),
    IPAddress: ep.ip,
    MacAddress: ep.mac,
    Node: ep.node ?? '',
    Ports: (ep.ports ?? []).map(publishedText).join(', '),
    Status: endpointStatus(ep),
    Error: ep.error ?? '',
    Sandbox: ep.sandbox ?? '',
    Interface: ep.ifname ?? '',
    External: ep.external,
    VTEP: ep.vtep ?? '',
    CreatedAt: ep.created,
  })

const BLANK_ENDPOINT: Endpoint = {
  id: '',
  networkId: '',
  name: '',
  ip: '',
  mac: '',
  external: false,
  created: '',
}

const HEADERS: Record<string, string> = {
  ID: 'ENDPOINT ID',
  NetworkID: 'NETWORK ID',
  IPAddress: 'ADDRESS',
  MacAddress: 'MAC',
  CreatedAt: 'CREATED AT',
}

const FILTERS: Record<string, FilterKey<Listed>> = {
  network: { match: (l, v) => l.network === v || l.ep.networkId.startsWith(v.toLowerCase()) },
  node: { match: (l, v) => l.ep.node === v },
  name: { match: (l, v) => nameMatches(l.ep.name, v) },
  id: { match: (l, v) => l.ep.id.startsWith(v.toLowerCase()) },
  status: { match: (l, v) => endpointStatus(l.ep) === v },
}

export function endpointTable(list: Listed[], noTrunc = false): string {
  return table(
    ['ENDPOINT ID', 'NAME', 'NETWORK', 'ADDRESS', 'MAC', 'NODE', 'PORTS', 'STATUS'],
    list.map(({ ep, network }) => [
      noTrunc ? ep.id : shortId(ep.id),
      ep.name,
      network,
      ep.ip,
      ep.mac,
      ep.node ?? (ep.vtep ? `(vtep ${ep.vtep})` : '-'),
      (ep.ports ?? []).map(publishedText).join(', '),
      endpointStatus(ep),
    ]),
  )
}

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const fmt = parseListFormat(flagString(flags, 'format'), 'endpoint ls')
  const filters = parseFilters(flagList(flags, 'filter'), FILTERS, 'endpoint ls')
  const client = ctx.client()
  const [eps, nets] = await Promise.all([
    client.get<Endpoint[]>('/v1/endpoints'),
    client.get<DockerNetwork[]>('/v1/networks'),
  ])
  const names = new Map(nets.map((n) => [n.Id, n.Name]))
  const listed = applyFilters(
    eps.map((ep) => ({ ep, network: names.get(ep.networkId) ?? shortId(ep.networkId) })),
    filters,
    FILTERS,
  ).sort(
    (a, b) =>
      a.network.localeCompare(b.network) ||
      a.ep.ip.localeCompare(b.ep.ip, undefined, { numeric: true }),
  )
  const noTrunc = flagBool(flags, 'no-trunc')
  if (flagBool(flags, 'quiet')) {
    for (const { ep } of listed) ctx.out(noTrunc ? ep.id : shortId(ep.id))
    return
  }
  printListing(
    ctx,
    fmt,
    {
      rows: listed.map((l) => endpointRow(l, noTrunc)),
      table: () => endpointTable(listed, noTrunc),
      headers: HEADERS,
      blank: endpointRow({ ep: BLANK_ENDPOINT, network: '' }),
    },
    'endpoint ls',
  )
}
