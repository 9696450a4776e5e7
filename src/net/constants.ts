// Constants of weft's host plumbing and wire format, written once.

/** Every host object weft makes (veths, bridges, vxlan devices, the GRO helper) starts with this. */
export const IFNAME_PREFIX = 'wf'
/** UDP port of VXLAN (IANA). */
export const VXLAN_PORT = 4789
/** Bytes VXLAN adds around an inner frame: outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8. */
export const VXLAN_OVERHEAD = 50
