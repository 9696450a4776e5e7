// `weft network disconnect NET SANDBOX|NAME`: remove an endpoint (a sandbox on the agent's
// host, or an external endpoint by name).
import type { CliContext } from './_context.ts'
import type { RunInput } from './spec.ts'

export async function run(ctx: CliContext, { positionals }: RunInput): Promise<void> {
  const [network, endpoint] = positionals as [string, string]
  await ctx.client().post(`/v1/networks/${encodeURIComponent(network)}/disconnect`, { endpoint })
}
