// `weft network connect [--ip A] [--ifname I] NET SANDBOX` attaches a network namespace on the agent's
// host; `--external --ip A --mac M --vtep V NET NAME` declares an endpoint behind a VTEP
// that does not run weft. `--name N` and `--alias A` (repeatable) are the names it resolves
// by inside the network. Prints the address it got.
import { flagBool, flagList, flagString } from './_args.ts'
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import { shortId } from './_format.ts'
import type { Endpoint } from './_types.ts'
import type { RunInput } from './spec.ts'
import { formatPublished, parsePublish } from '../egress/index.ts'
import { ValidationError } from '../errors/index.ts'

/** --publish values, or a usage error naming the bad one. */
function publishFlags(values: string[]) {
  try {
    return values.map(parsePublish)
  } catch (e) {
    if (e instanceof ValidationError) throw new UsageError(e.message, 'network connect')
    throw e
  }
}

export async function run(ctx: CliContext, { flags, positionals }: RunInput): Promise<void> {
  const [network, name] = positionals as [string, string]
  const ip = flagString(flags, 'ip')
  const mac = flagString(flags, 'mac')
  const vtep = flagString(flags, 'vtep')
  const publish = publishFlags(flagList(flags, 'publish'))
  const ifname = flagString(flags, 'ifname')
  const dnsName = flagString(flags, 'name')
  const aliases = flagList(flags, 'alias')
  const names = {
    ...(dnsName !== undefined ? { name: dnsName } : {}),
    ...(aliases.length ? { aliases } : {}),
  }
  let body: Record<string, unknown>
  if (flagBool(flags, 'external')) {
    const missing = Object.entries({ ip, mac, vtep })
      .filter(([, v]) => !v)
      .map(([f]) => `--${f}`)
    if (missing.length)
      throw new UsageError(`--external needs ${missing.join(', ')}`, 'network connect')
    if (publish.length)
      throw new UsageError('--publish is only for sandboxes on this host, not --external endpoints', 'network connect')
    if (ifname !== undefined)
      throw new UsageError(
        '--ifname is only for sandboxes, not --external endpoints',
        'network connect',
      )
    if (dnsName !== undefined)
      throw new UsageError(
        'an external endpoint is named by its NAME argument, not --name',
        'network connect',
      )
    body = { ip, external: { name, mac, vtep }, ...names }
  } else {
    if (mac || vtep)
      throw new UsageError('--mac and --vtep are only for --external endpoints', 'network connect')
    body = {
      sandbox: name,
      ...(ip !== undefined ? { ip } : {}),
      ...(ifname !== undefined ? { ifname } : {}),
      ...(publish.length ? { publish } : {}),
      ...names,
    }
  }
  const ep = await ctx
    .client()
    .post<Endpoint>(`/v1/networks/${encodeURIComponent(network)}/connect`, body)
  const where = ep.external ? `behind VTEP ${ep.vtep}` : `${ep.ifname ?? ''} on ${ep.node}`
  const ports = ep.ports?.length ? ` publishing ${ep.ports.map(formatPublished).join(', ')}` : ''
  ctx.out(`${ep.name} ${ep.ip} ${ep.mac} ${where} (endpoint ${shortId(ep.id)})${ports}`)
}
