// What the standalone A/B scripts (reorder.ts, cpu-breakdown.ts) share: a flag check, and the
// end of a run, which fails when a namespace of the run's topologies is still there.
import { leaks } from '../../test/harness/index.ts'

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
