// The idle metadata-mode vxlan device that makes UDP-tunnel GRO happen on the VXLAN port.
// The kernel's UDP-tunnel GRO handler hangs off the vxlan driver's socket: without one, TC
// ingress on the underlay sees every 1.5 KB segment alone and TCP falls to 0.66x kernel vxlan
// on a real wire (DATAPATH-NOTES pitfall 1). The device forwards nothing itself: every VXLAN
// packet for our VTEP is decapsulated (or dropped) by vx_from_ul before the stack sees it.
import { batch, exec, IFNAME_PREFIX, iprouteJson } from '../../net/index.ts'

/** Name of the GRO device (one per host netns). */
export const GRO_IFNAME = `${IFNAME_PREFIX}gro`

interface LinkJson {
  ifname: string
  linkinfo?: { info_kind?: string; info_data?: { external?: boolean; port?: number } }
}

/** Create the device if missing (or replace a same-named device of the wrong kind) and set it up. */
export async function ensureGroDevice(port: number): Promise<void> {
  const [link] = await iprouteJson<LinkJson>(['ip', '-d', 'link', 'show', 'dev', GRO_IFNAME], { missingOk: true })
  const d = link?.linkinfo?.info_data
  const ok = link?.linkinfo?.info_kind === 'vxlan' && d?.external === true && d.port === port
  const lines: string[] = []
  if (link && !ok) lines.push(`link del dev ${GRO_IFNAME}`)
  if (!ok) {
    lines.push(
      `link add ${GRO_IFNAME} type vxlan external dstport ${port}`,
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
