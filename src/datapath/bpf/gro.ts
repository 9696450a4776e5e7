// The idle metadata-mode vxlan device that makes UDP-tunnel GRO happen on the VXLAN port.
// The kernel's UDP-tunnel GRO handler hangs off the vxlan driver's socket: without one, TC
// ingress on the underlay sees every 1.5 KB segment alone and TCP falls to 0.66x kernel vxlan
// on a real wire (round-1 measurement on the wire test topology: veths that segment before
// the wire, GRO on receive).
//
// The device must never decapsulate anything itself: VXLAN is admitted only by vx_from_ul on the
// underlay NIC. Its socket is bound to the wildcard address whatever `local` says (the kernel's
// vxlan driver binds INADDR_ANY/in6addr_any), so VXLAN to another address of this host, or to
// the VTEP through another NIC, reaches it past every BPF check. `vnifilter` with an empty VNI
// list closes that: the driver drops every frame whose VNI is not in the list (none is) before
// decapsulating, while its GRO handler, which does not look at the VNI, keeps merging.
import { batch, exec, IFNAME_PREFIX, iprouteJson } from '../../net/index.ts'

/** Name of the GRO device (one per host netns). */
export const GRO_IFNAME = `${IFNAME_PREFIX}gro`

interface LinkJson {
  ifname: string
  linkinfo?: {
    info_kind?: string
    info_data?: { external?: boolean; vnifilter?: boolean; port?: number }
  }
}

/**
 * Create the device if missing (or replace a same-named device of another kind or config,
 * e.g. one made by an older weft without the VNI filter) and set it up.
 */
export async function ensureGroDevice(port: number): Promise<void> {
  const [link] = await iprouteJson<LinkJson>(['ip', '-d', 'link', 'show', 'dev', GRO_IFNAME], {
    missingOk: true,
  })
  const d = link?.linkinfo?.info_data
  const ok =
    link?.linkinfo?.info_kind === 'vxlan' &&
    d?.external === true &&
    d.vnifilter === true &&
    d.port === port
  const lines: string[] = []
  if (link && !ok) lines.push(`link del dev ${GRO_IFNAME}`)
  if (!ok) {
    lines.push(
      // vnifilter and no `bridge vni add`: a socket for GRO that decapsulates nothing
      `link add ${GRO_IFNAME} type vxlan external vnifilter dstport ${port}`,
      // no IPv6 link-local: the device must never send anything
      `link set dev ${GRO_IFNAME} addrgenmode none`,
    )
  }
  lines.push(`link set dev ${GRO_IFNAME} up`)
  await batch(lines, { context: 'GRO vxlan device' })
}

/** Delete the device; missing is fine. */
export async function removeGroDevice(): Promise<void> {
  await exec(['ip', 'link', 'del', 'dev', GRO_IFNAME])
}
