// `weft doctor [--network NET] [SANDBOX|ENDPOINT] [--to IP|NAME] [--format json]`: what is
// wrong on the path, one line per problem ("HOP: CAUSE"). Exit 0 when nothing is, 1 otherwise.
import type { DoctorReport } from '../doctor/types.ts'
import { flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { CliError, UsageError } from './_errors.ts'
import type { RunInput } from './spec.ts'

export async function run(ctx: CliContext, { flags, positionals }: RunInput): Promise<void> {
  const format = flagString(flags, 'format')
  if (format !== 'text' && format !== 'json')
    throw new UsageError(`--format "${format}" is not supported: use text or json`, 'doctor')
  const q = new URLSearchParams()
  const network = flagString(flags, 'network')
  const to = flagString(flags, 'to')
  if (network !== undefined) q.set('network', network)
  if (positionals[0] !== undefined) q.set('target', positionals[0])
  if (to !== undefined) q.set('to', to)
  const query = q.toString()
  const report = await ctx.client().get<DoctorReport>(`/v1/doctor${query ? `?${query}` : ''}`)
  if (format === 'json') ctx.out(JSON.stringify(report, null, 2))
  else if (report.ok)
    ctx.out(`ok: nothing wrong on ${report.path} (checked ${report.checked.join(', ')})`)
  else for (const p of report.problems) ctx.out(`${p.hop}: ${p.cause}`)
  if (!report.ok) {
    throw new CliError(
      `${report.problems.length} problem${report.problems.length > 1 ? 's' : ''} on ${report.path} (node ${report.node})`,
    )
  }
}
