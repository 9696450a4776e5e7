// Removing the kernel datapath from this netns, whichever process made it: its bridges
// (wfbr<vni>) and vxlan devices (wfvx<vni>), and with them their FDB and neighbours; with
// `endpoints: 'delete'` also the endpoint veths enslaved to those bridges. Used by its own
// teardown and by the bpf datapath when a host switches to it (the veths stay and are adopted).
import { batch, IFNAME_PREFIX, IprouteError, iprouteJson } from '../../net/index.ts'
import { vniFromName } from './names.ts'
import type { LinkJson } from './read.ts'

/** Delete the kernel datapath's devices here; returns what went, in words (nothing found: []). */
export async function removeKernelDatapath(o: { endpoints: 'delete' | 'keep' }): Promise<string[]> {
  // by type: a bpf host with thousands of endpoint veths lists none of them when keeping them
  const ofType = (type: string) =>
    iprouteJson<LinkJson>(['ip', '-d', 'link', 'show', 'type', type], {
      context: `read ${type} links`,
    })
  const isBridge = (name: string) => vniFromName(name, 'br') !== undefined
  const bridges = (await ofType('bridge')).filter((l) => isBridge(l.ifname))
  const vxlans = (await ofType('vxlan')).filter((l) => vniFromName(l.ifname, 'vx') !== undefined)
  const endpoints =
    o.endpoints === 'delete' && bridges.length
      ? (await ofType('veth')).filter(
          (l) => l.ifname.startsWith(IFNAME_PREFIX) && !!l.master && isBridge(l.master),
        )
      : []
  // endpoints first, then vxlan devices (they free UDP 4789), then bridges (kept veths fall free)
  const doomed = [...endpoints, ...vxlans, ...bridges]
  if (!doomed.length) return []
  await batch(
    doomed.map((l) => `link del dev ${l.ifname}`),
    { force: true, context: 'remove the kernel datapath' },
  ).catch(ignoreMissing)
  const names = (ls: LinkJson[]) => ls.map((l) => l.ifname).join(', ')
  const removed: string[] = []
  if (endpoints.length) removed.push(`${endpoints.length} endpoint veth(s): ${names(endpoints)}`)
  if (vxlans.length) removed.push(`${vxlans.length} vxlan device(s): ${names(vxlans)}`)
  if (bridges.length) removed.push(`${bridges.length} bridge(s): ${names(bridges)}`)
  return removed
}

/**
 * What the bpf datapath does first on a host that ran the kernel datapath: remove its vxlan
 * devices (they hold UDP 4789, which wfgro needs) and bridges; the endpoint veths stay.
 */
export function takeOverFromKernel(): Promise<string[]> {
  return removeKernelDatapath({ endpoints: 'keep' })
}

/** A device deleted meanwhile (by the kernel with its bridge, or by a racing call) is fine. */
export function ignoreMissing(err: unknown): void {
  if (
    err instanceof IprouteError &&
    /Cannot find device|does not exist|No such file|Object not found/.test(err.stderr)
  )
    return
  throw err
}
