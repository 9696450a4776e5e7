// `weft network create`: docker network create for overlay networks. Prints the new id.
import { flagBool, flagList, flagString, keyValues } from './_args.ts'
import type { CliContext } from './_context.ts'
import { UsageError } from './_errors.ts'
import type { RunInput } from './spec.ts'

const VXLAN_ID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list'
const MTU_OPTION = 'com.docker.network.driver.mtu'

function integer(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined
  if (!/^\d+$/.test(v.trim()))
    throw new UsageError(`--${flag} "${v}" must be a whole number`, 'network create')
  return Number(v)
}

export async function run(ctx: CliContext, { flags, positionals }: RunInput): Promise<void> {
  const driver = flagString(flags, 'driver')
  if (driver !== 'overlay') {
    throw new UsageError(
      `driver "${driver}" is not supported: weft only makes overlay networks (-d overlay)`,
      'network create',
    )
  }
  const labels = keyValues(flagList(flags, 'label'), 'label')
  const options = keyValues(flagList(flags, 'opt'), 'opt')
  // Docker's overlay options name the VNI and MTU: honour them as --vni/--mtu
  let vni = integer(flagString(flags, 'vni'), 'vni')
  let mtu = integer(flagString(flags, 'mtu'), 'mtu')
  if (options[VXLAN_ID_OPTION] !== undefined) {
    if (vni !== undefined)
      throw new UsageError(
        `use either --vni or --opt ${VXLAN_ID_OPTION}, not both`,
        'network create',
      )
    vni = integer(options[VXLAN_ID_OPTION], `opt ${VXLAN_ID_OPTION}`)
    delete options[VXLAN_ID_OPTION]
  }
  if (options[MTU_OPTION] !== undefined) {
    if (mtu !== undefined)
      throw new UsageError(`use either --mtu or --opt ${MTU_OPTION}, not both`, 'network create')
    mtu = integer(options[MTU_OPTION], `opt ${MTU_OPTION}`)
    delete options[MTU_OPTION]
  }
  const subnet = flagString(flags, 'subnet')
  const gateway = flagString(flags, 'gateway')
  const ipRange = flagString(flags, 'ip-range')
  const body = {
    name: positionals[0]!,
    driver: 'overlay',
    ...(subnet !== undefined ? { subnet } : {}),
    ...(gateway !== undefined ? { gateway } : {}),
    ...(ipRange !== undefined ? { ipRange } : {}),
    ...(vni !== undefined ? { vni } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    ...(flagBool(flags, 'internal') ? { internal: true } : {}),
    labels,
    options,
  }
  const net = await ctx.client().post<{ Id: string }>('/v1/networks', body)
  ctx.out(net.Id)
}
