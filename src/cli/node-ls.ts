// `weft node ls`: the hosts in the cluster, their VTEP address and whether they are alive;
// --format table|json|TEMPLATE with the fields Name, Advertise, Status, Alive, Datapath,
// Endpoints, Version, Started, and what the answering agent's probes say of each peer: Probe
// (up|down|unknown), RTT, Loss, PathMTU. STATUS is the agent (its lease); PROBE is the
// datapath: "Down" with "up" is a host whose agent is down and whose datapath still forwards.
// The probe columns appear once the answering host probes someone (it shares a network with
// endpoints elsewhere): before that they would be all dashes.
import { flagBool, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { table } from './_format.ts'
import { parseListFormat, printListing } from './_listing.ts'
import type { Node } from './_types.ts'
import { goStruct } from './template/index.ts'
import type { RunInput } from './spec.ts'

export function nodeTable(nodes: Node[]): string {
  const probed = nodes.some((n) => n.probe)
  return table(
    [
      'NAME',
      'ADVERTISE',
      'STATUS',
      'DATAPATH',
      'ENDPOINTS',
      'VERSION',
      ...(probed ? ['PROBE', 'RTT', 'LOSS', 'PATH MTU'] : []),
    ],
    nodes.map((n) => [
      n.name,
      n.advertise ?? '-',
      n.status ?? (n.alive ? 'Ready' : 'Down'),
      n.datapath ?? '-',
      String(n.endpoints),
      n.version ?? '-',
      ...(probed ? probeCells(n.probe) : []),
    ]),
  )
}

function probeCells(p: Node['probe']): string[] {
  if (!p) return ['-', '-', '-', '-']
  return [p.state, rttText(p.rttMs) || '-', `${Math.round(p.loss * 100)}%`, mtuText(p) || '-']
}

/** "0.21ms", "12ms"; '' when unknown. */
const rttText = (ms: number | undefined) =>
  ms === undefined ? '' : ms < 10 ? `${ms.toFixed(2)}ms` : `${Math.round(ms)}ms`

/** "1500", or "1400 (needs 1500)" when the path carries less than the overlay sends; '' while unknown. */
const mtuText = (p: NonNullable<Node['probe']>) =>
  p.pathMtu === undefined
    ? ''
    : p.pathMtu >= p.mtuTarget
      ? String(p.pathMtu)
      : `${p.pathMtu} (needs ${p.mtuTarget})`

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
    Probe: n.probe?.state ?? '',
    RTT: rttText(n.probe?.rttMs),
    Loss: n.probe ? `${Math.round(n.probe.loss * 100)}%` : '',
    PathMTU: n.probe ? mtuText(n.probe) : '',
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
