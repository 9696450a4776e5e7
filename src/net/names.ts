// Interface and VNI naming rules (pure). Linux caps interface names at 15 bytes
// (IFNAMSIZ 16 with the NUL); every host object weft makes starts with IFNAME_PREFIX ("wf").
import { ValidationError } from '../errors/index.ts'
import { IFNAME_PREFIX } from './constants.ts'

/** Longest interface name the kernel accepts. */
export const IFNAME_MAX = 15
/** VNIs are 24-bit; 0 is reserved. */
export const VNI_MIN = 1
export const VNI_MAX = 0xffffff

/** Validate an interface name: 1..15 chars, no '/', ':', whitespace, not "." or "..". Returns it. */
export function assertIfname(name: string, what = 'interface name'): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > IFNAME_MAX) {
    throw new ValidationError(`${what} "${name}" must be 1..${IFNAME_MAX} characters long`)
  }
  if (!/^[A-Za-z0-9_.@+-]+$/.test(name) || name === '.' || name === '..') {
    throw new ValidationError(`${what} "${name}" may contain only letters, digits and _ . @ + -`)
  }
  return name
}

/** Validate a VNI (1..16777215). Returns it. */
export function assertVni(vni: number): number {
  if (!Number.isInteger(vni) || vni < VNI_MIN || vni > VNI_MAX) {
    throw new ValidationError(`VNI ${vni} is out of range (${VNI_MIN}..${VNI_MAX})`)
  }
  return vni
}

/** Validate a 64-hex endpoint or network id (lower-case). Returns it. */
export function assertId(id: string, what = 'id'): string {
  if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) {
    throw new ValidationError(`${what} "${id}" must be 64 lower-case hex characters`)
  }
  return id
}

/** Host-side veth name for an endpoint: "wf" + the first 10 hex chars of its id (12 chars). */
export function hostIfnameFor(endpointId: string): string {
  return `${IFNAME_PREFIX}${assertId(endpointId, 'endpoint id').slice(0, 10)}`
}

/** Bridge of a network in the kernel datapath: "wfbr<vni>" (<= 12 chars). */
export function bridgeName(vni: number): string {
  return `${IFNAME_PREFIX}br${assertVni(vni)}`
}

/** Kernel vxlan device of a network: "wfvx<vni>" (<= 12 chars). */
export function vxlanName(vni: number): string {
  return `${IFNAME_PREFIX}vx${assertVni(vni)}`
}

/** The VNI encoded in a "wfbr<vni>" / "wfvx<vni>" name, or undefined. */
export function vniFromName(name: string, kind: 'br' | 'vx'): number | undefined {
  const m = new RegExp(`^${IFNAME_PREFIX}${kind}(\\d{1,8})$`).exec(name)
  if (!m) return undefined
  const vni = Number(m[1])
  return vni >= VNI_MIN && vni <= VNI_MAX && String(vni) === m[1] ? vni : undefined
}
