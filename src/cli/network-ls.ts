// `weft network ls`: Docker's table (NETWORK ID, NAME, DRIVER, SCOPE), -q for ids, or
// --format json (one JSON object per line, as docker prints it).
import { leaf, type CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { shortId, table } from './_format.ts'
import type { DockerNetwork } from './_types.ts'

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
    Labels: Object.entries(n.Labels).map(([k, v]) => `${k}=${v}`).join(','),
    Name: n.Name,
    Scope: n.Scope,
    // weft extras
    Subnet: n.IPAM.Config[0]?.Subnet ?? '',
    VNI: n.Options['com.docker.network.driver.overlay.vxlanid_list'] ?? '',
  })
}

export const networkLsCommand = (ctx: CliContext) =>
  leaf({
    path: 'network ls',
    description: 'List networks',
    alias: ['list'],
    args: {
      quiet: { type: 'boolean', alias: 'q', description: 'Only display network IDs' },
      format: { type: 'string', description: 'table (default) or json (one object per line)', default: 'table' },
      'no-trunc': { type: 'boolean', description: 'Do not truncate the output' },
    },
    positionals: { min: 0, max: 0, usage: 'weft network ls [OPTIONS]' },
    async run({ args }) {
      if (args.format !== 'table' && args.format !== 'json') {
        throw new UsageError(`--format "${args.format}" is not supported: use table or json`, 'network ls')
      }
      const nets = await ctx.client().get<DockerNetwork[]>('/v1/networks')
      const noTrunc = !!args['no-trunc']
      if (args.quiet) {
        for (const n of nets) ctx.out(noTrunc ? n.Id : shortId(n.Id))
      } else if (args.format === 'json') {
        for (const n of nets) ctx.out(networkJsonLine(n, noTrunc))
      } else {
        ctx.out(networkTable(nets, noTrunc))
      }
    },
  })
