// `weft network rm NAME…`: removes each network (refused while endpoints are attached);
// prints each removed name, reports each failure, exit 1 if any failed (as docker does).
import { leaf, type CliContext } from './_context.ts'
import { CliError } from './_errors.ts'

export const networkRmCommand = (ctx: CliContext) =>
  leaf({
    path: 'network rm',
    description: 'Remove one or more networks',
    alias: ['remove'],
    args: {
      network: { type: 'positional', required: false, description: 'Network name, id or id prefix (one or more)' },
    },
    positionals: { min: 1, max: Infinity, usage: 'weft network rm NETWORK [NETWORK...]' },
    async run({ positionals }) {
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
    },
  })
