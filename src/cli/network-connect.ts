// `weft network connect [--ip A] NET SANDBOX` attaches a network namespace on the agent's
// host; `--external --ip A --mac M --vtep V NET NAME` declares an endpoint behind a VTEP
// that does not run weft. Prints the address it got.
import { leaf, type CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { shortId } from './_format.ts'
import type { Endpoint } from './_types.ts'
import { repeated } from './_args.ts'
import { formatPublished, parsePublish } from '../egress/index.ts'
import { ValidationError } from '../errors/index.ts'

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
      publish: { type: 'string', alias: 'p', description: "Publish a port on this host's addresses, [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp] (repeatable)" },
    },
    positionals: { min: 2, max: 2, usage: 'weft network connect [OPTIONS] NETWORK SANDBOX' },
    async run({ args, rawArgs, positionals }) {
      const [network, name] = positionals as [string, string]
      let publish
      try {
        publish = repeated(rawArgs, 'publish', 'p').map(parsePublish)
      } catch (e) {
        if (e instanceof ValidationError) throw new UsageError(e.message, 'network connect')
        throw e
      }
      let body: Record<string, unknown>
      if (args.external) {
        const missing = (['ip', 'mac', 'vtep'] as const).filter((f) => !args[f])
        if (missing.length) {
          throw new UsageError(`--external needs ${missing.map((f) => `--${f}`).join(', ')}`, 'network connect')
        }
        if (publish.length) throw new UsageError('--publish is only for sandboxes on this host, not --external endpoints', 'network connect')
        body = { ip: args.ip, external: { name, mac: args.mac, vtep: args.vtep } }
      } else {
        if (args.mac || args.vtep) throw new UsageError('--mac and --vtep are only for --external endpoints', 'network connect')
        body = { sandbox: name, ...(args.ip !== undefined ? { ip: args.ip } : {}), ...(publish.length ? { publish } : {}) }
      }
      const ep = await ctx.client().post<Endpoint>(`/v1/networks/${encodeURIComponent(network)}/connect`, body)
      const where = ep.external ? `behind VTEP ${ep.vtep}` : `${ep.ifname ?? ''} on ${ep.node}`
      const ports = ep.ports?.length ? ` publishing ${ep.ports.map(formatPublished).join(', ')}` : ''
      ctx.out(`${ep.name} ${ep.ip} ${ep.mac} ${where} (endpoint ${shortId(ep.id)})${ports}`)
    },
  })
