// `weft network ls`: Docker's table (NETWORK ID, NAME, DRIVER, SCOPE), -q for ids, --filter,
// --no-trunc, and --format table|json|TEMPLATE with the fields of Docker's network ls
// (ID, Name, Driver, Scope, IPv6, Internal, Labels, .Label "k", CreatedAt) plus Subnet, VNI.
import { flagBool, flagList, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import {
  applyFilters,
  labelMatches,
  nameMatches,
  parseFilters,
  type FilterKey,
} from './_filters.ts'
import { shortId, table } from './_format.ts'
import { parseListFormat, printListing, withMethod } from './_listing.ts'
import type { DockerNetwork } from './_types.ts'
import { goStruct } from './template/index.ts'
import type { RunInput } from './spec.ts'

export function networkTable(nets: DockerNetwork[], noTrunc = false): string {
  return table(
    ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
    nets.map((n) => [noTrunc ? n.Id : shortId(n.Id), n.Name, n.Driver, n.Scope]),
  )
}

/** One network as `docker network ls --format` sees it. */
export function networkRow(n: DockerNetwork, noTrunc = false) {
  const row = goStruct({
    CreatedAt: n.Created,
    Driver: n.Driver,
    ID: noTrunc ? n.Id : shortId(n.Id),
    IPv6: String(n.EnableIPv6),
    Internal: String(n.Internal),
    Labels: Object.entries(n.Labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(','),
    Name: n.Name,
    Scope: n.Scope,
    // weft extras
    Subnet: n.IPAM.Config[0]?.Subnet ?? '',
    VNI: n.Options['com.docker.network.driver.overlay.vxlanid_list'] ?? '',
  })
  return withMethod(row, 'Label', (key) => n.Labels[String(key)] ?? '')
}

export const networkJsonLine = (n: DockerNetwork, noTrunc = false): string =>
  JSON.stringify(networkRow(n, noTrunc))

export const NETWORK_HEADERS: Record<string, string> = {
  ID: 'NETWORK ID',
  CreatedAt: 'CREATED AT',
  IPv6: 'IPV6',
  Label: 'LABEL',
}

const BLANK_NETWORK = {
  Id: '',
  Name: '',
  Created: '',
  Scope: '',
  Driver: '',
  EnableIPv6: false,
  Internal: false,
  IPAM: { Config: [] },
  Options: {},
  Labels: {},
} as unknown as DockerNetwork

const TYPES = ['custom', 'builtin']

/** Docker's network ls filters; weft networks are all custom ("type=custom"). */
export const NETWORK_FILTERS: Record<string, FilterKey<DockerNetwork>> = {
  name: { match: (n, v) => nameMatches(n.Name, v) },
  id: { match: (n, v) => n.Id.startsWith(v.toLowerCase()) },
  driver: { match: (n, v) => n.Driver === v },
  label: { match: (n, v) => labelMatches(n.Labels, v), all: true },
  scope: { match: (n, v) => n.Scope === v },
  type: {
    match: (_n, v) => v === 'custom',
    check: (v) => {
      if (!TYPES.includes(v))
        throw new UsageError(
          `invalid filter 'type=${v}': use type=custom or type=builtin`,
          'network ls',
        )
    },
  },
}

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const fmt = parseListFormat(flagString(flags, 'format'), 'network ls')
  const filters = parseFilters(flagList(flags, 'filter'), NETWORK_FILTERS, 'network ls')
  const nets = applyFilters(
    await ctx.client().get<DockerNetwork[]>('/v1/networks'),
    filters,
    NETWORK_FILTERS,
  )
  const noTrunc = flagBool(flags, 'no-trunc')
  if (flagBool(flags, 'quiet')) {
    for (const n of nets) ctx.out(noTrunc ? n.Id : shortId(n.Id))
    return
  }
  printListing(
    ctx,
    fmt,
    {
      rows: nets.map((n) => networkRow(n, noTrunc)),
      table: () => networkTable(nets, noTrunc),
      headers: NETWORK_HEADERS,
      blank: networkRow(BLANK_NETWORK),
    },
    'network ls',
  )
}
