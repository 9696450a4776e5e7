// `weft network create`: docker network create for overlay networks. Prints the new id.
import { keyValues, repeated } from './_args.ts'
import { leaf, type CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'

const VXLAN_ID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list'
const MTU_OPTION = 'com.docker.network.driver.mtu'

function integer(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v.trim())) throw new UsageError(`--${flag} "${v}" must be a whole number`, 'network create')
  return Number(v)
}

export const networkCreateCommand = (ctx: CliContext) =>
  leaf({
    path: 'network create',
    description: 'Create an overlay network (prints its id)',
    args: {
      name: { type: 'positional', required: false, description: 'Network name' },
      driver: { type: 'string', alias: 'd', description: 'Driver to manage the network (only "overlay")', default: 'overlay' },
      subnet: { type: 'string', description: 'Subnet in CIDR format (default: next free 10.0.N.0/24)' },
      gateway: { type: 'string', description: 'IPv4 gateway of the subnet (default: its first address)' },
      'ip-range': { type: 'string', description: 'Allocate container addresses from this sub-range' },
      vni: { type: 'string', description: 'VXLAN network identifier, 1..16777215 (default: next free from 256)' },
      mtu: { type: 'string', description: 'Overlay MTU (default: underlay MTU - 50)' },
      internal: { type: 'boolean', description: 'Restrict external access to the network (no default route, no NAT)' },
      label: { type: 'string', description: 'Set metadata KEY=VALUE (repeatable)' },
      opt: { type: 'string', alias: 'o', description: 'Set driver option KEY=VALUE (repeatable)' },
    },
    positionals: { min: 1, max: 1, usage: 'weft network create [OPTIONS] NETWORK' },
    async run({ args, rawArgs, positionals }) {
      if (args.driver !== 'overlay') {
        throw new UsageError(`driver "${args.driver}" is not supported: weft only makes overlay networks (-d overlay)`, 'network create')
      }
      const labels = keyValues(repeated(rawArgs, 'label'), 'label')
      const options = keyValues(repeated(rawArgs, 'opt', 'o'), 'opt')
      // Docker's overlay options name the VNI and MTU: honour them as --vni/--mtu
      let vni = integer(args.vni, 'vni')
      let mtu = integer(args.mtu, 'mtu')
      if (options[VXLAN_ID_OPTION] !== undefined) {
        if (vni !== undefined) throw new UsageError(`use either --vni or --opt ${VXLAN_ID_OPTION}, not both`, 'network create')
        vni = integer(options[VXLAN_ID_OPTION], `opt ${VXLAN_ID_OPTION}`)
        delete options[VXLAN_ID_OPTION]
      }
      if (options[MTU_OPTION] !== undefined) {
        if (mtu !== undefined) throw new UsageError(`use either --mtu or --opt ${MTU_OPTION}, not both`, 'network create')
        mtu = integer(options[MTU_OPTION], `opt ${MTU_OPTION}`)
        delete options[MTU_OPTION]
      }
      const body = {
        name: positionals[0]!,
        driver: 'overlay',
        ...(args.subnet !== undefined ? { subnet: args.subnet } : {}),
        ...(args.gateway !== undefined ? { gateway: args.gateway } : {}),
        ...(args['ip-range'] !== undefined ? { ipRange: args['ip-range'] } : {}),
        ...(vni !== undefined ? { vni } : {}),
        ...(mtu !== undefined ? { mtu } : {}),
        ...(args.internal ? { internal: true } : {}),
        labels,
        options,
      }
      const net = await ctx.client().post<{ Id: string }>('/v1/networks', body)
      ctx.out(net.Id)
    },
  })
