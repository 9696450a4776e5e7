// `weft network rm NAME…`: removes each network (refused while endpoints are attached);
// prints each removed name, reports each failure, exit 1 if any failed (as docker does).
import type { CliContext } from './_context.ts'
import { CliError } from './_errors.ts'
import type { RunInput } from './spec.ts'

export async function run(ctx: CliContext, { positionals }: RunInput): Promise<void> {
  const failed: string[] = []
  for (const ref of positionals) {
    try {
      await ctx.client().delete(`/v1/networks/${encodeURIComponent(ref)}`)
      ctx.out(ref)
    } catch (e) {
      if (!(e instanceof CliError) || e.status === undefined) throw e
      failed.push(e.message)
    }
  }
  if (failed.length) throw new CliError(failed.join('\nError: '))
}
