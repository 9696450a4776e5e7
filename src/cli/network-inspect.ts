// `weft network inspect NAME|ID…`: Docker's JSON shape, as an array (like docker). Prints
// what it found and fails (exit 1) when any network is missing, as docker does.
import type { CliContext } from './_context.ts'
import { CliError } from './_errors.ts'
import type { DockerNetwork } from './_types.ts'
import type { RunInput } from './spec.ts'

export async function run(ctx: CliContext, { positionals }: RunInput): Promise<void> {
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
  ctx.out(JSON.stringify(found, null, 4))
  if (failed.length) throw new CliError(failed.join('\nError: '))
}
