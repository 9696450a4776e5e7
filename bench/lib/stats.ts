// Small, pure statistics helpers for the benchmark suite: medians, percentiles, ratios.
// Percentiles use the nearest-rank method on a sorted copy (no interpolation), so a p99 is
// always a value that was actually observed.

/** Nearest-rank percentile (p in 0..100) of `xs`; NaN for an empty list. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const rank = Math.ceil((p / 100) * s.length)
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!
}

/** Median (the mean of the two middle values for an even count); NaN for an empty list. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0)
    return NaN
  return a / b
}

/** Round to `digits` significant-ish decimals for display (keeps integers intact). */
export function fmt(x: number | undefined, digits = 2): string {
  if (x === undefined || !Number.isFinite(x)) return '—'
  if (Math.abs(x) >= 100) return x.toFixed(0)
  if (Math.abs(x) >= 10) return x.toFixed(Math.max(0, digits - 1))
  return x.toFixed(digits)
}

/** The samples of one figure over rounds; `rounds[i]` is the round of `samples[i]` when known. */
export interface RoundSamples {
  samples: readonly number[]
  rounds?: readonly number[]
}

/** A comparison of two modes taken round by round (pairRounds). */
export interface Paired {
  /** median of the per-round values */
  median: number
  min: number
  max: number
  /** one value per round both modes have */
  values: number[]
  /** false: the rounds could not be matched, and `values` is the one comparison of the medians */
  paired: boolean
}

/**
 * `op` (default a / b) of A's round i against B's round i, for every round both have, and
 * the median of those. Modes alternate within a round, so a pair ran minutes apart at most
 * and slow drift of the machine cancels out of it, which it does not from a ratio of medians
 * over rounds. Rounds are matched by number when both figures carry them, else by position
 * when both have as many samples; otherwise the medians are compared (paired: false).
 * Non-finite values (a round where B was 0) are left out; undefined when nothing is left.
 */
export function pairRounds(
  a: RoundSamples | undefined,
  b: RoundSamples | undefined,
  op: (x: number, y: number) => number = ratio,
): Paired | undefined {
  if (!a?.samples.length || !b?.samples.length) return undefined
  let values: number[]
  let paired = true
  if (a.rounds && b.rounds) {
    const byRound = new Map(b.rounds.map((r, i) => [r, b.samples[i]!]))
    values = a.rounds.flatMap((r, i) =>
      byRound.has(r) ? [op(a.samples[i]!, byRound.get(r)!)] : [],
    )
  } else if (a.samples.length === b.samples.length) {
    values = a.samples.map((x, i) => op(x, b.samples[i]!))
  } else {
    values = [op(median(a.samples), median(b.samples))]
    paired = false
  }
  values = values.filter(Number.isFinite)
  if (!values.length) return undefined
  return {
    median: median(values),
    min: Math.min(...values),
    max: Math.max(...values),
    values,
    paired,
  }
}

/** a − b, or NaN when either is missing. */
export function difference(a: number | undefined, b: number | undefined): number {
  return a === undefined || b === undefined ? NaN : a - b
}
