// `weft network prune`: removes every network without endpoints, as `docker network prune`
// removes the unused ones. Asks first unless -f; prints "Deleted Networks:" and the names.
// A network that gains an endpoint meanwhile (or has one this host does not follow) is
// refused by the agent as in use, and left alone.
import { flagBool, flagList } from './_args.ts'
import type { CliContext } from './_context.ts'
import { CliError } from './_errors.ts'
import { applyFilters, labelMatches, parseFilters, type FilterKey } from './_filters.ts'
import type { DockerNetwork } from './_types.ts'
import type { RunInput } from './spec.ts'

const WARNING =
  'WARNING! This will remove all custom networks not used by at least one endpoint.\nAre you sure you want to continue? [y/N] '

const FILTERS: Record<string, FilterKey<DockerNetwork>> = {
  label: { match: (n, v) => labelMatches(n.Labels, v), all: true },
}

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const filters = parseFilters(flagList(flags, 'filter'), FILTERS, 'network prune')
  if (!flagBool(flags, 'force')) {
    const answer = ctx.ask(WARNING)?.trim().toLowerCase()
    // as docker: anything but "y" keeps everything
    if (answer !== 'y' && answer !== 'yes') return
  }
  const client = ctx.client()
  const unused = applyFilters(
    await client.get<DockerNetwork[]>('/v1/networks'),
    filters,
    FILTERS,
  ).filter((n) => Object.keys(n.Containers).length === 0)
  const deleted: string[] = []
  const failed: string[] = []
  for (const n of unused) {
    try {
      await client.delete(`/v1/networks/${encodeURIComponent(n.Id)}`)
      deleted.push(n.Name)
    } catch (e) {
      if (!(e instanceof CliError) || e.status === undefined) throw e
      if (e.code === 'network_in_use' || e.code === 'network_not_found') continue // in use now, or already gone
      failed.push(`${n.Name}: ${e.message}`)
    }
  }
  if (deleted.length) ctx.out(`Deleted Networks:\n${deleted.join('\n')}\n`)
  if (failed.length) throw new CliError(failed.join('\nError: '))
}
