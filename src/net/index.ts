// Host plumbing: IPv4/CIDR/MAC/name rules (pure), the underlay NIC, sandboxes, and endpoint
// veth pairs over rtnetlink. Kernel changes are made in the current netns (the host's) or, for
// the sandbox end, through a netlink socket opened inside the sandbox; iproute2 (./exec.ts)
// only for the kernel datapath's devices and tables.
export {
  parseIPv4,
  parseCidr,
  ipInSubnet,
  assertHostAddress,
  formatIfaceAddress,
  ipv4Bytes,
  ipv4FromBytes,
  ipv4ToInt,
  intToIPv4,
} from './ip.ts'
export type { Cidr } from './ip.ts'
export { macFromIp, parseMac, macToBytes, macFromBytes } from './mac.ts'
export { IFNAME_PREFIX, VXLAN_PORT, VXLAN_OVERHEAD } from './constants.ts'
export {
  IFNAME_MAX,
  VNI_MIN,
  VNI_MAX,
  assertIfname,
  assertVni,
  assertId,
  hostIfnameFor,
  bridgeName,
  vxlanName,
  vniFromName,
} from './names.ts'
export { sandboxPath, resolveSandbox, NETNS_RUN_DIR } from './sandbox.ts'
export type { Sandbox } from './sandbox.ts'
export { findUnderlay, interfaceAddress, pickUnderlay } from './underlay.ts'
export type { UnderlayNic } from './underlay.ts'
export { plumbEndpoint, unplumbEndpoint, unplumbEndpoints, validatePlumbSpec } from './endpoint.ts'
export type { PlumbSpec, PlumbedEndpoint } from './endpoint.ts'
export { ensureHostPair, handOverIfnameFor } from './host-pair.ts'
export type { HostPairSpec, HostPair } from './host-pair.ts'
export { exec, batch, iprouteJson, parseIprouteJson, inNetns, IprouteError } from './exec.ts'
export { RtnlSocket, NetlinkError, NETLINK_TIMEOUT_MS, hostRtnl } from './netlink.ts'
export {
  NetlinkMessage,
  AF_INET,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_REPLACE,
} from './netlink-message.ts'
export type { NlLink, NlAddress, RtnlOptions } from './netlink.ts'
export type { ExecResult } from './exec.ts'
