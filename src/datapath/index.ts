// Datapath factory: the agent picks `bpf` (TC eBPF, the default) or `kernel` (Docker's
// bridge + vxlan layout, the benchmark baseline and the fallback where BPF is unavailable).
import { NotSupportedError, ValidationError } from '../errors/index.ts'
import { createKernelDatapath } from './kernel/index.ts'
import type { Datapath, DatapathOptions } from './types.ts'

export type * from './types.ts'
export { createKernelDatapath } from './kernel/index.ts'

const BPF_MODULE = './bpf/index.ts' as string

/** Datapath implementations by name. */
export type DatapathKind = 'bpf' | 'kernel'

/**
 * Build a datapath of the given kind. Nothing touches the kernel until `start()`.
 * The bpf datapath is loaded lazily, so hosts using `kernel` never load BPF code.
 */
export async function createDatapath(kind: DatapathKind, opts: DatapathOptions): Promise<Datapath> {
  if (kind === 'kernel') return createKernelDatapath(opts)
  if (kind === 'bpf') {
    let mod: { createBpfDatapath?: (o: DatapathOptions) => Datapath | Promise<Datapath> }
    try {
      // Not a literal until src/datapath/bpf/index.ts exists (typecheck would fail on it);
      // switch to `import('./bpf/index.ts')` then, so `bun build --compile` bundles it.
      mod = await import(BPF_MODULE)
    } catch (err) {
      const e = new NotSupportedError('the bpf datapath (src/datapath/bpf/index.ts could not be loaded)', '5.10')
      ;(e as { cause?: unknown }).cause = err
      e.message = `bpf datapath unavailable: ${(err as Error).message}; use --datapath kernel`
      throw e
    }
    if (typeof mod.createBpfDatapath !== 'function') {
      throw new NotSupportedError('the bpf datapath (src/datapath/bpf/index.ts exports no createBpfDatapath)', '5.10')
    }
    return mod.createBpfDatapath(opts)
  }
  throw new ValidationError(`unknown datapath "${String(kind)}": use bpf or kernel`)
}
