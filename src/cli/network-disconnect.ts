// `weft network disconnect NET SANDBOX|NAME`: remove an endpoint (a sandbox on the agent's
// host, or an external endpoint by name).
import { leaf, type CliContext } from './_context.ts'

export const networkDisconnectCommand = (ctx: CliContext) =>
  leaf({
    path: 'network disconnect',
    description: 'Disconnect a sandbox on this host, or an external endpoint, from a network',
    args: {
      network: { type: 'positional', required: false, description: 'Network name or id' },
      sandbox: { type: 'positional', required: false, description: 'Sandbox or external endpoint name' },
    },
    positionals: { min: 2, max: 2, usage: 'weft network disconnect NETWORK SANDBOX' },
    async run({ positionals }) {
      const [network, endpoint] = positionals as [string, string]
      await ctx.client().post(`/v1/networks/${encodeURIComponent(network)}/disconnect`, { endpoint })
    },
  })
