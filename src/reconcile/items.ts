// Names of the items a pass programs (pure): the key each is known by in the failure book,
// and the words /healthz and the log use for it.
import type { LocalEndpointSpec, NetworkSpec, RemoteEndpointSpec } from '../datapath/types.ts'
import type { ItemRef } from './failures.ts'

export const remoteKey = (vni: number, ip: string) => `${vni}/${ip}`

/**
 * Key of forwarding state whose host veth is gone (its sandbox was deleted): it has no name
 * any more, and "vni/ip" can never be a host ifname (no '/').
 */
export const vanishedKey = (vni: number, ip: string) => `${vni}/${ip}`

export const networkItem = (spec: Pick<NetworkSpec, 'vni'> & Partial<NetworkSpec>, op: 'upsert' | 'remove'): ItemRef => ({
  kind: 'network',
  key: String(spec.vni),
  vni: spec.vni,
  op,
  subject: spec.id ? `network ${spec.id.slice(0, 12)} (VNI ${spec.vni})` : `network with VNI ${spec.vni}`,
})

export const attachItem = (spec: LocalEndpointSpec): ItemRef => ({
  kind: 'local-endpoint',
  key: spec.hostIfname,
  vni: spec.vni,
  endpointId: spec.id,
  op: 'attach',
  subject: `endpoint ${spec.id.slice(0, 12)} (${spec.hostIfname}, ${spec.ifname} in sandbox ${spec.sandbox}) in VNI ${spec.vni}`,
})

export const detachItem = (key: string, held: { vni: number; ip: string; hostIfname?: string }): ItemRef => ({
  kind: 'local-endpoint',
  key,
  vni: held.vni,
  op: 'detach',
  subject: held.hostIfname
    ? `endpoint on ${held.hostIfname} (${held.ip} in VNI ${held.vni})`
    : `forwarding state of ${held.ip} in VNI ${held.vni} (its host veth is gone)`,
})

export const remoteItem = (r: Pick<RemoteEndpointSpec, 'vni' | 'ip'> & Partial<RemoteEndpointSpec>, op: 'upsert' | 'remove'): ItemRef => ({
  kind: 'remote-endpoint',
  key: remoteKey(r.vni, r.ip),
  vni: r.vni,
  op,
  subject: `remote endpoint ${r.ip} in VNI ${r.vni}${r.vtep ? ` via VTEP ${r.vtep}` : ''}`,
})

export const membersItem = (vni: number, vteps: string[]): ItemRef => ({
  kind: 'members',
  key: String(vni),
  vni,
  op: 'set',
  subject: `members of VNI ${vni} (${vteps.length ? vteps.join(', ') : 'none'})`,
})

/** Failure-book key of the cluster's subnets (setClusterSubnets): never a VNI. */
export const SUBNETS_KEY = 'subnets'

export const subnetsItem = (count: number): ItemRef => ({
  kind: 'network',
  key: SUBNETS_KEY,
  vni: 0,
  op: 'upsert',
  subject: `the cluster's ${count} subnets (isolation and NAT of the way out)`,
})
