// Switching a host between the datapaths in place. Both use UDP 4789 in the host netns: the
// bpf datapath's wfgro (its GRO helper, bound to the wildcard address) and the kernel
// datapath's vxlan devices cannot both hold it, and a BPF program left on the underlay NIC
// would keep handling VXLAN from stale maps. So each datapath's start() removes what the other
// left of this node here, keeping the endpoint veths (the reconciler re-plumbs them). The
// bpf side (what the kernel datapath removes) is here; the kernel side is ./kernel/remove.ts.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { getLibc } from '../sys/index.ts'
import { IFNAME_PREFIX, iprouteJson, vniFromName } from '../net/index.ts'
import { PIN_ROOT } from './constants.ts'
import type { DatapathOptions } from './types.ts'

/** The bpf datapath's GRO device (./bpf/gro.ts), named here so kernel hosts load no BPF code without cause. */
const GRO_IFNAME = `${IFNAME_PREFIX}gro`

/** True when this node's bpf datapath left something here: pins, or wfgro in this netns. */
export function bpfDatapathPresent(node: string): boolean {
  return existsSync(join(PIN_ROOT, node)) || !!getLibc().ifNameToIndex(GRO_IFNAME)
}

/**
 * Remove this node's bpf datapath (underlay program, endpoint filters, wfgro, nft table, pins),
 * keeping the endpoint veths. Returns what went; [] when there was nothing.
 */
export async function takeOverFromBpf(
  opts: Pick<DatapathOptions, 'node' | 'advertise'>,
): Promise<string[]> {
  if (!bpfDatapathPresent(opts.node)) return []
  const { BpfDatapath } = await import('./bpf/index.ts')
  return new BpfDatapath({ node: opts.node, advertise: opts.advertise }).dismantle({
    endpoints: 'keep',
  })
}

/**
 * True when anything of this node's datapath, of either kind, is here: a start that finds
 * nothing made all it runs on, and a failed start may remove it again.
 */
export async function datapathPresent(node: string): Promise<boolean> {
  const pinDir = join(PIN_ROOT, node)
  if (existsSync(pinDir) && readdirSync(pinDir).length) return true
  if (getLibc().ifNameToIndex(GRO_IFNAME)) return true
  const links = await iprouteJson<{ ifname: string }>(['ip', 'link', 'show'], {
    context: 'read links',
  })
  return links.some(
    (l) => vniFromName(l.ifname, 'br') !== undefined || vniFromName(l.ifname, 'vx') !== undefined,
  )
}
