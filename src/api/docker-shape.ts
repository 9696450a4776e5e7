// Docker's JSON shapes for networks (docker network inspect), so scripts written for
// Docker read weft's answers unchanged.
import type { NetworkRecord } from '../cluster/index.ts'
import type { EndpointStatus } from './deps.ts'
import { formatPublished } from '../egress/index.ts'

/** Docker's option key for the VXLAN ids of an overlay network. */
export const VXLAN_ID_OPTION = 'com.docker.network.driver.overlay.vxlanid_list'

export function dockerNetwork(n: NetworkRecord, endpoints: EndpointStatus[]) {
  const prefixLen = n.subnet.split('/')[1]
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: n.scope,
    Driver: n.driver,
    EnableIPv6: false,
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: [{ Subnet: n.subnet, Gateway: n.gateway, ...(n.ipRange ? { IPRange: n.ipRange } : {}) }],
    },
    Internal: !!n.internal,
    Attachable: true,
    Containers: Object.fromEntries(
      endpoints.map((e) => [
        e.record.id,
        {
          Name: e.record.name,
          EndpointID: e.record.id,
          MacAddress: e.record.mac,
          IPv4Address: `${e.record.ip}/${prefixLen}`,
          IPv6Address: '',
          // weft extras: where it lives and whether it is programmed
          Node: e.record.node ?? null,
          External: e.record.external,
          ...(e.record.vtep ? { VTEP: e.record.vtep } : {}),
          ...(e.status ? { Status: e.status } : {}),
          ...(e.error ? { Error: e.error } : {}),
          ...(e.record.ports?.length ? { Ports: e.record.ports.map(formatPublished) } : {}),
        },
      ]),
    ),
    Options: { [VXLAN_ID_OPTION]: String(n.vni), 'com.docker.network.driver.mtu': String(n.mtu), ...n.options },
    Labels: n.labels,
  }
}
