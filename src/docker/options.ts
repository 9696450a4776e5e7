// Docker's network options <-> weft's network fields (pure). Docker hands a driver the
// `--opt` values; the name, labels and --ip-range come from its API (see engine.ts).
//   --subnet / --gateway / --ip-range  -> subnet / gateway / ipRange
//   --opt com.docker.network.driver.mtu=N               -> mtu
//   --opt com.docker.network.driver.overlay.vxlanid_list=V -> vni (one VNI)
//   --internal -> internal (no way out: no default route, no NAT)
//   --label k=v -> labels; any other --opt k=v -> options
import { ValidationError } from '../errors/index.ts'
import type { NetworkRecord, NewNetwork } from './backend.ts'
import type { DockerNetwork, NetworkCreateBody } from './engine.ts'
import { MTU_OPTION, PLUGIN_NAME, VNI_OPTION, WEFT_NETWORK_ID_OPTION } from './protocol.ts'

export interface DriverOptions {
  mtu?: number
  vni?: number
  /** Everything else, as strings. */
  options: Record<string, string>
  /** The weft network this Docker network stands for (set when the agent created it). */
  weftId?: string
}

/** Read `--opt` values (Docker's generic options); throws ValidationError naming the bad one. */
export function parseDriverOptions(
  generic: Record<string, unknown> | null | undefined,
): DriverOptions {
  const out: DriverOptions = { options: {} }
  for (const [k, raw] of Object.entries(generic ?? {})) {
    const v = typeof raw === 'string' ? raw : String(raw)
    if (k === MTU_OPTION) {
      if (!/^\d{1,5}$/.test(v))
        throw new ValidationError(`--opt ${MTU_OPTION}=${v}: the MTU must be a whole number`)
      out.mtu = Number(v)
    } else if (k === VNI_OPTION) {
      if (!/^\d{1,8}$/.test(v)) {
        throw new ValidationError(
          `--opt ${VNI_OPTION}=${v}: weft networks have exactly one VNI (a number 1..16777215)`,
        )
      }
      out.vni = Number(v)
    } else if (k === WEFT_NETWORK_ID_OPTION) {
      if (!/^[0-9a-f]{64}$/.test(v))
        throw new ValidationError(`--opt ${WEFT_NETWORK_ID_OPTION}=${v} is not a weft network id`)
      out.weftId = v
    } else {
      out.options[k] = v
    }
  }
  return out
}

/** What weft creates for a Docker network made with `docker network create -d weft` (from Docker's inspect). */
export function newNetworkFromDocker(net: DockerNetwork): NewNetwork {
  const cfg = net.IPAM?.Config?.[0]
  if (!cfg?.Subnet) throw new ValidationError(`docker network ${net.Name} has no IPv4 subnet`)
  const opts = parseDriverOptions(net.Options)
  return {
    name: net.Name,
    subnet: cfg.Subnet,
    ...(cfg.Gateway ? { gateway: cfg.Gateway.replace(/\/\d+$/, '') } : {}),
    ...(cfg.IPRange ? { ipRange: cfg.IPRange } : {}),
    ...(opts.mtu !== undefined ? { mtu: opts.mtu } : {}),
    ...(opts.vni !== undefined ? { vni: opts.vni } : {}),
    labels: { ...net.Labels },
    options: opts.options,
    ...(net.Internal ? { internal: true } : {}),
  }
}

export const isInternal = (n: NetworkRecord) => n.internal === true

/** The `POST /networks/create` body that makes a weft network appear in a host's Docker. */
export function dockerCreateBody(n: NetworkRecord): NetworkCreateBody {
  const options: Record<string, string> = {}
  for (const [k, v] of Object.entries(n.options)) options[k] = v
  options[MTU_OPTION] = String(n.mtu)
  options[VNI_OPTION] = String(n.vni)
  options[WEFT_NETWORK_ID_OPTION] = n.id
  return {
    Name: n.name,
    CheckDuplicate: true,
    Driver: PLUGIN_NAME,
    Internal: isInternal(n),
    IPAM: {
      Driver: PLUGIN_NAME,
      Config: [
        { Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}) },
      ],
      Options: { [WEFT_NETWORK_ID_OPTION]: n.id },
    },
    Options: options,
    Labels: { ...n.labels },
  }
}
