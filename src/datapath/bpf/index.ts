// Public surface of the bpf datapath: TC eBPF VXLAN (bpf/vxlan.bpf.c) behind the Datapath
// contract. Kept private on purpose: the map codecs (abi.ts), used by datapath.ts only.
import type { Datapath, DatapathOptions } from '../types.ts'
import { BpfDatapath, type BpfDatapathInternals } from './datapath.ts'

export { BpfDatapath, PIN_ROOT } from './datapath.ts'
export type { BpfVniStats, BpfDatapathInternals } from './datapath.ts'
export { DROP_REASONS, DROP_CODES, Counter, MAP_NAMES } from './abi.ts'
export { GRO_IFNAME } from './gro.ts'

/**
 * The TC eBPF datapath for this host. Must run inside the host's netns; nothing touches the
 * kernel until `start()` (or the first call that needs the maps).
 * @example const dp = createBpfDatapath({ node: 'h1', advertise: '198.18.0.1' }); await dp.start()
 */
export function createBpfDatapath(
  opts: DatapathOptions,
  internals?: BpfDatapathInternals,
): Datapath {
  return new BpfDatapath(opts, internals)
}
