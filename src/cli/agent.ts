// `weft agent`: run the host agent until SIGINT/SIGTERM. Flags echo Docker's daemon (its
// --cluster-store / --cluster-advertise spellings too); config.ts validates them.
import { NodeNameHeldError, parseAgentConfig, startAgent } from '../agent/index.ts'
import { createLogger } from '../log.ts'
import type { AgentFlags } from '../agent/config.ts'
import type { CliContext } from './_context.ts'
import type { RunInput } from './spec.ts'

export async function run(ctx: CliContext, { flags }: RunInput): Promise<void> {
  const { teardown, ...rest } = flags
  const config = await parseAgentConfig(rest as AgentFlags, ctx.env)
  if (config.warnings.length) {
    const log = createLogger({
      level: config.logLevel,
      name: config.name,
      format: config.logFormat,
    })
    for (const w of config.warnings) log.warn(w)
  }
  if (teardown === true) {
    // not from under a running agent: its pins are in use (a dead agent's lock went with it)
    const { lockPinDir } = await import('../agent/pin-lock.ts')
    const { teardownNode } = await import('../datapath/teardown.ts')
    const lock = lockPinDir(config.name, {
      create: false,
      busyHint: 'stop that agent first, then run --teardown',
    })
    let removed: string[]
    try {
      // the agent normally leaves the datapath programmed when it stops (live restore); what is
      // here goes, whichever datapath (--datapath or the other) made it
      removed = await teardownNode({ node: config.name, advertise: config.advertise })
    } finally {
      lock?.release()
    }
    // the sandboxes lost their endpoints: `ip netns exec` there must not point at a resolver gone too
    const { removeNodeResolvConfs } = await import('../dns/index.ts')
    for (const file of removeNodeResolvConfs(config.name)) removed.push(`names: ${file}`)
    if (!removed.length) {
      ctx.out(`nothing of node ${config.name}'s datapath was here: nothing removed`)
      return
    }
    ctx.out(`removed from node ${config.name}:`)
    for (const r of removed) ctx.out(`  ${r}`)
    return
  }
  const agent = await startAgent(config)
  // the one line an operator needs from the first host, readable among the JSON log lines
  if (agent.joinCommand)
    ctx.err(`To join another host to this cluster, run on it: ${agent.joinCommand}`)
  const fatal = await Promise.race([
    agent.fatal,
    new Promise<undefined>((resolve) => {
      const onSignal = () => resolve(undefined)
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
    }),
  ])
  // refused its node name: the agent never got going, so what it made goes (as on a failed start);
  // any other fatal end (its store's thread gone) leaves the datapath for the next start
  await agent.stop({ startFailed: fatal instanceof NodeNameHeldError })
  if (fatal) throw fatal
}
