// Datapath factory: the agent picks `bpf` (TC eBPF, the default) or `kernel` (Docker's
// bridge + vxlan layout, the benchmark baseline and the fallback where BPF is unavailable).
import { NotSupportedError, ValidationError } from '../errors/index.ts'
import { createKernelDatapath } from './kernel/index.ts'
import type { Datapath, DatapathOptions } from './types.ts'

export type * from './types.ts'
export { createKernelDatapath } from './kernel/index.ts'
export { PIN_ROOT } from './constants.ts'

/** Datapath implementations by name. */
export type DatapathKind = 'bpf' | 'kernel'

/**
 * Build a datapath of the given kind. Nothing touches the kernel until `start()`.
 * The bpf datapath is imported lazily (a literal specifier, so `bun build --compile` still
 * bundles it), so hosts running `kernel` never load the BPF/FFI code.
 */
export async function createDatapath(kind: DatapathKind, opts: DatapathOptions): Promise<Datapath> {
  if (kind === 'kernel') return createKernelDatapath(opts)
  if (kind === 'bpf') {
    let mod: { createBpfDatapath?: (o: DatapathOptions) => Datapath | Promise<Datapath> }
    try {
      mod = await import('./bpf/index.ts')
    } catch (err) {
      const e = new NotSupportedError('the bpf datapath', '5.10')
      e.message = `bpf datapath unavailable (${(err as Error).message}): use --datapath kernel`
      ;(e as { cause?: unknown }).cause = err
      throw e
    }
    if (typeof mod.createBpfDatapath !== 'function') {
      throw new NotSupportedError(
        'the bpf datapath (src/datapath/bpf/index.ts exports no createBpfDatapath)',
        '5.10',
      )
    }
    return mod.createBpfDatapath(opts)
  }
  throw new ValidationError(`unknown datapath "${String(kind)}": use bpf or kernel`)
}
