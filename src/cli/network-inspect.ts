// `weft network inspect NAME|ID…`: Docker's JSON shape, as an array (like docker), or each
// network through -f/--format TEMPLATE (Docker's network-inspect fields: .Name, .Id,
// .IPAM.Config, .Containers, .Options, .Labels). Prints what it found and fails (exit 1)
// when any network is missing, as docker does.
import { flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { CliError, UsageError } from './_errors.ts'
import { parseListFormat } from './_listing.ts'
import type { DockerNetwork } from './_types.ts'
import { goStruct, TemplateError } from './template/index.ts'
import type { RunInput } from './spec.ts'

/** The network with Go's types marked: the network, IPAM, its configs and endpoints are structs. */
export function inspectValue(n: DockerNetwork): DockerNetwork {
  const containers: DockerNetwork['Containers'] = {}
  for (const [k, e] of Object.entries(n.Containers)) containers[k] = goStruct({ ...e })
  return goStruct({
    ...n,
    IPAM: goStruct({ ...n.IPAM, Config: n.IPAM.Config.map((c) => goStruct({ ...c })) }),
    Containers: containers,
  })
}

export async function run(ctx: CliContext, { flags, positionals }: RunInput): Promise<void> {
  const fmt = parseListFormat(flagString(flags, 'format'), 'network inspect')
  if (fmt.kind === 'template' && fmt.table)
    throw new UsageError(
      '--format "table …" is for listings: inspect prints one template per network',
      'network inspect',
    )
  const found: DockerNetwork[] = []
  const failed: string[] = []
  for (const ref of positionals) {
    try {
      found.push(await ctx.client().get<DockerNetwork>(`/v1/networks/${encodeURIComponent(ref)}`))
    } catch (e) {
      if (!(e instanceof CliError) || e.status === undefined) throw e
      failed.push(e.message)
    }
  }
  if (fmt.kind === 'template') {
    try {
      for (const n of found) ctx.out(fmt.template.render(inspectValue(n)))
    } catch (e) {
      throw e instanceof TemplateError
        ? new UsageError(`--format: ${e.message}`, 'network inspect')
        : e
    }
  } else {
    ctx.out(JSON.stringify(found, null, 4))
  }
  if (failed.length) throw new CliError(failed.join('\nError: '))
}
