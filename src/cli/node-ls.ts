// `weft node ls`: the hosts in the cluster, their VTEP address and whether they are alive;
// --format table|json|TEMPLATE with the fields Name, Advertise, Status, Alive, Datapath,
// Endpoints, Version, Started.
import { flagBool, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { table } from './_format.ts'
import { parseListFormat, printListing } from './_listing.ts'
import type { Node } from './_types.ts'
import { goStruct } from './template/index.ts'
import type { RunInput } from './spec.ts'

export function nodeTable(nodes: Node[]): string {
  return table(
    ['NAME', 'ADVERTISE', 'STATUS', 'DATAPATH', 'ENDPOINTS', 'VERSION'],
    nodes.map((n) => [
      n.name,
      n.advertise ?? '-',
      n.status ?? (n.alive ? 'Ready' : 'Down'),
      n.datapath ?? '-',
      String(n.endpoints),
      n.version ?? '-',
    ]),
  )
}

export const nodeRow = (n: Node) =>
  goStruct({
    Name: n.name,
    Advertise: n.advertise ?? '',
    Status: n.alive ? 'Ready' : 'Down',
    Alive: n.alive,
    Datapath: n.datapath ?? '',
    Endpoints: n.endpoints,
    Version: n.version ?? '',
    Started: n.started ?? '',
  })

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const fmt = parseListFormat(flagString(flags, 'format'), 'node ls')
  const nodes = await ctx.client().get<Node[]>('/v1/nodes')
  if (flagBool(flags, 'quiet')) {
    for (const n of nodes) ctx.out(n.name)
    return
  }
  printListing(
    ctx,
    fmt,
    {
      rows: nodes.map(nodeRow),
      table: () => nodeTable(nodes),
      headers: {},
      blank: nodeRow({ name: '', alive: false, endpoints: 0 }),
    },
    'node ls',
  )
}
