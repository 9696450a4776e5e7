// Docker's remote network driver and IPAM plugin protocol (libnetwork remote/api and
// ipams/remote/api, Docker 20.10): the request and reply bodies weft reads and writes.
// Every request is a POST of JSON; every reply is JSON, `{}` or `{"Err": "…"}`.

export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json'
/** Driver and IPAM driver name (the socket's base name). */
export const PLUGIN_NAME = 'weft'
/** Our address space names (GetDefaultAddressSpaces): anything else is Docker's own IPAM. */
export const ADDRESS_SPACE = 'weft'
/** Docker network option that ties a Docker network to its weft network (set by the agent). */
export const WEFT_NETWORK_ID_OPTION = 'weft.network-id'

export const GENERIC_OPTION = 'com.docker.network.generic'
export const MTU_OPTION = 'com.docker.network.driver.mtu'
export const VNI_OPTION = 'com.docker.network.driver.overlay.vxlanid_list'
export const REQUEST_ADDRESS_TYPE = 'RequestAddressType'
export const GATEWAY_ADDRESS_TYPE = 'com.docker.network.gateway'

export interface IpamData {
  AddressSpace?: string
  Pool?: string
  Gateway?: string
  AuxAddresses?: Record<string, string>
}

export interface CreateNetworkRequest {
  NetworkID: string
  Options?: Record<string, unknown>
  IPv4Data?: IpamData[]
  IPv6Data?: IpamData[]
}

export interface CreateEndpointRequest {
  NetworkID: string
  EndpointID: string
  Interface?: { Address?: string; AddressIPv6?: string; MacAddress?: string }
  Options?: Record<string, unknown>
}

export interface JoinRequest {
  NetworkID: string
  EndpointID: string
  SandboxKey?: string
  Options?: Record<string, unknown>
}

export interface JoinReply {
  InterfaceName: { SrcName: string; DstPrefix: string }
  Gateway?: string
  DisableGatewayService?: boolean
}

export interface RequestPoolRequest {
  AddressSpace?: string
  Pool?: string
  SubPool?: string
  Options?: Record<string, string>
  V6?: boolean
}

export interface RequestAddressRequest {
  PoolID: string
  Address?: string
  Options?: Record<string, string>
}

export interface ReleaseAddressRequest {
  PoolID: string
  Address: string
}

/** The pool id of a weft network: its subnet, the same on every host. */
export const poolIdFor = (subnet: string) => `weft:${subnet}`

/** The subnet a pool id names, or undefined when it is not one of ours. */
export function subnetOfPoolId(poolId: unknown): string | undefined {
  if (typeof poolId !== 'string' || !poolId.startsWith('weft:')) return undefined
  return poolId.slice('weft:'.length)
}
