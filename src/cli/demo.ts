// `weft demo`: two hosts, two containers, one overlay network, a ping across, all in
// network namespaces of its own; `--down` removes what a kept demo left running.
import { leaf, type CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { demoDown, runDemo } from '../demo/index.ts'

export const demoCommand = (ctx: CliContext) =>
  leaf({
    path: 'demo',
    description: 'Build two hosts and two containers in namespaces, connect them over an overlay network, ping across',
    args: {
      datapath: { type: 'string', description: 'bpf (default) or kernel', default: 'bpf' },
      keep: { type: 'boolean', description: 'Leave it running and print commands to try (remove with --down)' },
      down: { type: 'boolean', description: 'Remove every demo left running (namespaces, agents, pins, state)' },
    },
    positionals: { min: 0, max: 0, usage: 'weft demo [--datapath bpf|kernel] [--keep] | weft demo --down' },
    async run({ args }) {
      if (args.datapath !== 'bpf' && args.datapath !== 'kernel') {
        throw new UsageError(`--datapath must be bpf or kernel, not "${args.datapath}"`, 'demo')
      }
      if (args.down) {
        if (args.keep) throw new UsageError('--down and --keep do not go together', 'demo')
        await demoDown(ctx)
        return
      }
      await runDemo(ctx, { datapath: args.datapath, keep: !!args.keep })
    },
  })
