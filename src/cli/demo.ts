// `weft demo`: two hosts, two containers, one overlay network, a ping across, all in
// network namespaces of its own; `--down` removes what a kept demo left running.
import { flagBool, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { demoDown, runDemo } from '../demo/index.ts'
import type { RunInput } from './spec.ts'

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const datapath = flagString(flags, 'datapath')
  if (datapath !== 'bpf' && datapath !== 'kernel') {
    throw new UsageError(`--datapath must be bpf or kernel, not "${datapath}"`, 'demo')
  }
  const keep = flagBool(flags, 'keep')
  if (flagBool(flags, 'down')) {
    if (keep) throw new UsageError('--down and --keep do not go together', 'demo')
    await demoDown(ctx)
    return
  }
  await runDemo(ctx, { datapath, keep, docker: flagBool(flags, 'docker') })
}
