// `weft agent --teardown`: remove what is actually here of a node's datapath, whichever
// datapath made it (a host may have run bpf and then kernel, or the reverse), and say what went.
// It never reports success while the node's pins remain out of its sight: under `ip netns exec`
// (a mount namespace with a /sys of its own, so no bpffs) it refuses before changing anything.
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { BPFFS_ROOT, isOnBpffs } from '../bpf/index.ts'
import { WeftError } from '../errors/index.ts'
import { PIN_ROOT } from './constants.ts'
import { removeKernelDatapath } from './kernel/remove.ts'
import type { DatapathOptions } from './types.ts'

/**
 * Where the host's filesystem shows from another mount namespace: the root of each ancestor
 * process in another mount namespace (the shell that ran `ip netns exec`), then PID 1's.
 */
function hostRoots(): string[] {
  const roots: string[] = []
  const mine = nsOf('self')
  let pid = process.ppid
  for (let hops = 0; pid > 1 && hops < 32; hops++) {
    const ns = nsOf(pid)
    if (ns && ns !== mine) roots.push(`/proc/${pid}/root`)
    pid = parentOf(pid)
  }
  roots.push('/proc/1/root')
  return roots
}

const nsOf = (pid: number | 'self') => {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`)
  } catch {
    return undefined
  }
}

const parentOf = (pid: number): number => {
  try {
    return Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0)
  } catch {
    return 0
  }
}

/** The node's pins are on a bpffs this process cannot see: removing anything would lie. */
export class PinsHiddenError extends WeftError {
  override name = 'PinsHiddenError'
  constructor(node: string, hostDir: string, entries: string[], netns: string | undefined) {
    super(
      'pins_hidden',
      `cannot tear down node ${node} from here: ${BPFFS_ROOT} in this mount namespace is not bpffs ` +
        `(\`ip netns exec\` mounts a /sys of its own), and the node's pins are in the host's ` +
        `${join(PIN_ROOT, node)} (${entries.join(', ') || 'empty'}, seen as ${hostDir}). Nothing was removed: ` +
        `its BPF programs, maps and devices stay. Run the teardown with the host's /sys: ` +
        `nsenter --net=/run/netns/${netns ?? '<netns>'} weft agent --teardown --name ${node} …`,
    )
  }
}

/** Throws PinsHiddenError when bpffs is not visible here but the host holds this node's pins. */
export function assertPinsVisible(node: string, roots: () => string[] = hostRoots): void {
  if (isOnBpffs(BPFFS_ROOT)) return
  for (const root of roots()) {
    const hostDir = join(root, PIN_ROOT, node)
    let entries: string[]
    try {
      entries = readdirSync(hostDir)
    } catch {
      continue // not there, or that root is not ours to read
    }
    throw new PinsHiddenError(node, hostDir, entries, currentNetnsName())
  }
}

/** The `ip netns` name of this process's network namespace, if it has one. */
function currentNetnsName(): string | undefined {
  try {
    const self = statSync('/proc/self/ns/net')
    for (const name of readdirSync('/run/netns')) {
      const s = statSync(join('/run/netns', name))
      if (s.ino === self.ino && s.dev === self.dev) return name
    }
  } catch {
    // no /run/netns: the caller says <netns>
  }
  return undefined
}

/**
 * Remove this node's datapath here, both kinds: the bpf datapath's programs, endpoint veths,
 * wfgro, nft table and pins, and the kernel datapath's bridges, vxlan devices and endpoint
 * veths. Returns what went, in words ([]: nothing was here). The caller holds the pin lock.
 */
export async function teardownNode(
  opts: Pick<DatapathOptions, 'node' | 'advertise'>,
): Promise<string[]> {
  assertPinsVisible(opts.node)
  const { BpfDatapath } = await import('./bpf/index.ts')
  const bpf = await new BpfDatapath(opts).dismantle({ endpoints: 'delete' })
  const kernel = await removeKernelDatapath({ endpoints: 'delete' })
  return [...bpf.map((r) => `bpf datapath: ${r}`), ...kernel.map((r) => `kernel datapath: ${r}`)]
}
