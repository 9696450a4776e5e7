// Switching a host between the datapaths in place. Both use UDP 4789 in the host netns: the
// bpf datapath's wfgro (its GRO helper, bound to the wildcard address) and the kernel
// datapath's vxlan devices cannot both hold it, and a BPF program left on the underlay NIC
// would keep handling VXLAN from stale maps. So each datapath's start() removes what the other
// left of this node here, keeping the endpoint veths (the reconciler re-plumbs them). The
// bpf side (what the kernel datapath removes) is here; the kernel side is ./kernel/remove.ts.
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { getLibc } from '../sys/index.ts'
import { exec, IFNAME_PREFIX, iprouteJson, vniFromName, VXLAN_PORT } from '../net/index.ts'
import { PIN_ROOT } from './constants.ts'
import type { DatapathOptions } from './types.ts'

/** The bpf datapath's GRO device (./bpf/gro.ts), named here so kernel hosts load no BPF code without cause. */
const GRO_IFNAME = `${IFNAME_PREFIX}gro`

const removeGroDevice = () => exec(['ip', 'link', 'del', 'dev', GRO_IFNAME])

/**
 * Remove this node's bpf datapath (underlay program, endpoint filters, wfgro, nft table, pins),
 * keeping the endpoint veths. Returns what went; [] when there was nothing. Pins are kernel-wide:
 * only those whose config names this host's VTEP are taken (another host on this kernel may run
 * a bpf agent with this name), and not while a bpf agent holds them.
 */
export async function takeOverFromBpf(
  opts: Pick<DatapathOptions, 'node' | 'advertise'>,
): Promise<string[]> {
  const pinned = existsSync(join(PIN_ROOT, opts.node))
  const gro = !!getLibc().ifNameToIndex(GRO_IFNAME)
  if (!pinned && !gro) return []
  const { BpfDatapath } = await import('./bpf/index.ts')
  const dp = new BpfDatapath({ node: opts.node, advertise: opts.advertise })
  const ours = pinned && dp.pinnedVtep() === opts.advertise
  if (!ours && !gro) return []
  if (!ours) {
    // wfgro lives in this netns: a bpf datapath ran here under another name or lost its pins
    await removeGroDevice()
    return [`the GRO device ${GRO_IFNAME} (it held UDP port ${VXLAN_PORT})`]
  }
  const { lockPinDir } = await import('../agent/pin-lock.ts')
  const lock = lockPinDir(opts.node, {
    create: false,
    busyHint: 'stop that agent first, then start this one with --datapath kernel',
  })
  try {
    return await dp.dismantle({ endpoints: 'keep' })
  } finally {
    lock?.release()
  }
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
