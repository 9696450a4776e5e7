// `weft network connect [--ip A] NET SANDBOX` attaches a network namespace on the agent's
// host; `--external --ip A --mac M --vtep V NET NAME` declares an endpoint behind a VTEP
// that does not run weft. `--name N` and `--alias A` (repeatable) are the names it resolves
// by inside the network. Prints the address it got.
import { repeated } from './_args.ts'
import { leaf, type CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { shortId } from './_format.ts'
import type { Endpoint } from './_types.ts'

export const networkConnectCommand = (ctx: CliContext) =>
  leaf({
    path: 'network connect',
    description: 'Connect a sandbox (netns name, /proc/PID/ns/net or path) on this host, or declare an external endpoint',
    args: {
      network: { type: 'positional', required: false, description: 'Network name or id' },
      sandbox: { type: 'positional', required: false, description: 'Sandbox on the agent\'s host, or the external endpoint\'s name' },
      ip: { type: 'string', description: 'IPv4 address (default: next free one)' },
      external: { type: 'boolean', description: 'Declare an endpoint behind a non-weft VTEP (needs --ip, --mac, --vtep)' },
      mac: { type: 'string', description: 'MAC address of the external endpoint' },
      vtep: { type: 'string', description: 'Underlay address of the VTEP the external endpoint sits behind' },
      name: { type: 'string', description: 'Name the endpoint resolves by in the network (default: the ip-netns name)' },
      alias: { type: 'string', description: 'Add a name it resolves by in the network (repeatable)' },
    },
    positionals: { min: 2, max: 2, usage: 'weft network connect [OPTIONS] NETWORK SANDBOX' },
    async run({ args, positionals, rawArgs }) {
      const [network, name] = positionals as [string, string]
      let body: Record<string, unknown>
      const aliases = repeated(rawArgs, 'alias')
      if (args.external) {
        if (args.name !== undefined) throw new UsageError('an external endpoint is named by its positional NAME, not --name', 'network connect')
        const missing = (['ip', 'mac', 'vtep'] as const).filter((f) => !args[f])
        if (missing.length) {
          throw new UsageError(`--external needs ${missing.map((f) => `--${f}`).join(', ')}`, 'network connect')
        }
        body = { ip: args.ip, external: { name, mac: args.mac, vtep: args.vtep }, ...(aliases.length ? { aliases } : {}) }
      } else {
        if (args.mac || args.vtep) throw new UsageError('--mac and --vtep are only for --external endpoints', 'network connect')
        body = {
          sandbox: name,
          ...(args.ip !== undefined ? { ip: args.ip } : {}),
          ...(args.name !== undefined ? { name: args.name } : {}),
          ...(aliases.length ? { aliases } : {}),
        }
      }
      const ep = await ctx.client().post<Endpoint>(`/v1/networks/${encodeURIComponent(network)}/connect`, body)
      const where = ep.external ? `behind VTEP ${ep.vtep}` : `${ep.ifname ?? ''} on ${ep.node}`
      ctx.out(`${ep.name} ${ep.ip} ${ep.mac} ${where} (endpoint ${shortId(ep.id)})`)
    },
  })
