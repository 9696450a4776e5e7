// `weft network ls`: Docker's table (NETWORK ID, NAME, DRIVER, SCOPE), -q for ids, or
// --format json (one JSON object per line, as docker prints it).
import { flagBool, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { shortId, table } from './_format.ts'
import type { DockerNetwork } from './_types.ts'
import type { RunInput } from './spec.ts'

export function networkTable(nets: DockerNetwork[], noTrunc = false): string {
  return table(
    ['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'],
    nets.map((n) => [noTrunc ? n.Id : shortId(n.Id), n.Name, n.Driver, n.Scope]),
  )
}

export function networkJsonLine(n: DockerNetwork, noTrunc = false): string {
  return JSON.stringify({
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
}

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const format = flagString(flags, 'format')
  if (format !== 'table' && format !== 'json') {
    throw new UsageError(`--format "${format}" is not supported: use table or json`, 'network ls')
  }
  const nets = await ctx.client().get<DockerNetwork[]>('/v1/networks')
  const noTrunc = flagBool(flags, 'no-trunc')
  if (flagBool(flags, 'quiet')) {
    for (const n of nets) ctx.out(noTrunc ? n.Id : shortId(n.Id))
  } else if (format === 'json') {
    for (const n of nets) ctx.out(networkJsonLine(n, noTrunc))
  } else {
    ctx.out(networkTable(nets, noTrunc))
  }
}
