// What the standalone A/B scripts (reorder.ts, cpu-breakdown.ts) share: flag checks, their
// columns (modes and --variant binaries) and setups, and the end of a run, which fails when a
// namespace of the run's topologies is still there.
import { leaks } from '../../test/harness/index.ts'
import { createSetup, type Mode, type Setup, type Underlay } from './setups.ts'

/** `value` of flag `--name` as a whole number >= 1, or an error naming the flag. */
export function positiveFlag(name: string, value: string | undefined): number {
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} ${value}: a whole number >= 1`)
  return n
}

/** Throws if any namespace of `prefixes` is left, then exits (130 after an interruption). */
export async function finish(prefixes: Iterable<string>, interrupted: boolean): Promise<never> {
  for (const p of prefixes) {
    const l = await leaks(p)
    if (l.length) throw new Error(`leaked: ${l.join(', ')}`)
  }
  process.exit(interrupted ? 130 : 0)
}

/** One column of an A/B run: a mode, or a bpf setup whose agents run another weft binary. */
export interface Variant<M extends Mode = Mode> {
  name: string
  mode: M
  /** WEFT_AGENT_CMD for this variant's agents (unset: this tree's dist/weft). */
  agentCmd?: string
}

/** The columns of `--modes a,b` (each one of `allowed`) and of each `--variant name=path`. */
export function parseVariants<M extends Mode>(
  modes: string,
  allowed: readonly M[],
  variantArgs: string[],
): Variant<M>[] {
  const variants: Variant<M>[] = modes.split(',').map((m) => {
    if (!allowed.includes(m as M)) throw new Error(`unknown mode ${m}: use ${allowed.join(',')}`)
    return { name: m, mode: m as M }
  })
  for (const v of variantArgs) {
    const [name, path] = v.split('=')
    if (!name || !path) throw new Error(`--variant ${v}: use name=path/to/weft`)
    if (variants.some((x) => x.name === name)) throw new Error(`--variant ${name}: name taken`)
    // `name=routed` (any mode's name): another column of that mode, e.g. for a host knob A/B
    if (allowed.includes(path as M)) variants.push({ name, mode: path as M })
    else variants.push({ name, mode: 'bpf' as M, agentCmd: path })
  }
  return variants
}

/** The setup of `v` on `underlay`, its agents started with the variant's binary; its prefix recorded. */
export async function buildVariantSetup(
  v: Variant,
  underlay: Underlay,
  prefixes: string[],
): Promise<Setup> {
  const was = process.env.WEFT_AGENT_CMD
  if (v.agentCmd) process.env.WEFT_AGENT_CMD = v.agentCmd
  try {
    const s = await createSetup(v.mode, underlay)
    prefixes.push(s.topo.prefix)
    return s
  } finally {
    if (was === undefined) delete process.env.WEFT_AGENT_CMD
    else process.env.WEFT_AGENT_CMD = was
  }
}
