// `weft node ls`: the hosts in the cluster, their VTEP address and whether they are alive.
import { flagBool, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { table } from './_format.ts'
import type { Node } from './_types.ts'
import type { RunInput } from './spec.ts'

export function nodeTable(nodes: Node[]): string {
  return table(
    ['NAME', 'ADVERTISE', 'STATUS', 'DATAPATH', 'ENDPOINTS', 'VERSION'],
    nodes.map((n) => [
      n.name,
      n.advertise ?? '-',
      n.alive ? 'Ready' : 'Down',
      n.datapath ?? '-',
      String(n.endpoints),
      n.version ?? '-',
    ]),
  )
}

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const format = flagString(flags, 'format')
  if (format !== 'table' && format !== 'json') {
    throw new UsageError(`--format "${format}" is not supported: use table or json`, 'node ls')
  }
  const nodes = await ctx.client().get<Node[]>('/v1/nodes')
  if (flagBool(flags, 'quiet')) for (const n of nodes) ctx.out(n.name)
  else if (format === 'json') for (const n of nodes) ctx.out(JSON.stringify(n))
  else ctx.out(nodeTable(nodes))
}
