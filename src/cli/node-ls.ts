// `weft node ls`: the hosts in the cluster, their VTEP address and whether they are alive.
import { leaf, type CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { table } from './_format.ts'
import type { Node } from './_types.ts'

export function nodeTable(nodes: Node[]): string {
  return table(
    ['NAME', 'ADVERTISE', 'STATUS', 'DATAPATH', 'ENDPOINTS', 'VERSION'],
    nodes.map((n) => [n.name, n.advertise ?? '-', n.alive ? 'Ready' : 'Down', n.datapath ?? '-', String(n.endpoints), n.version ?? '-']),
  )
}

export const nodeLsCommand = (ctx: CliContext) =>
  leaf({
    path: 'node ls',
    description: 'List nodes',
    alias: ['list'],
    args: {
      quiet: { type: 'boolean', alias: 'q', description: 'Only display node names' },
      format: { type: 'string', description: 'table (default) or json (one object per line)', default: 'table' },
    },
    positionals: { min: 0, max: 0, usage: 'weft node ls [OPTIONS]' },
    async run({ args }) {
      if (args.format !== 'table' && args.format !== 'json') {
        throw new UsageError(`--format "${args.format}" is not supported: use table or json`, 'node ls')
      }
      const nodes = await ctx.client().get<Node[]>('/v1/nodes')
      if (args.quiet) for (const n of nodes) ctx.out(n.name)
      else if (args.format === 'json') for (const n of nodes) ctx.out(JSON.stringify(n))
      else ctx.out(nodeTable(nodes))
    },
  })
