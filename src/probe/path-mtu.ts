// Path MTU between two VTEPs, found with DF probes (pure). The target is the largest packet the
// overlay puts on the underlay: the network MTU + the VXLAN overhead (as IPv4 bytes). While
// full-size probes come back the path is fine; when one is lost but the small probe of the
// same round is answered, the size is suspect and a search between the largest answered and
// the smallest refused size runs: a ladder of LADDER sizes spread over that range at once, so
// each answer narrows it LADDER + 1 times (1440 bytes to one in four ladders, not eleven
// halvings: a refusal is only known after the probe timeout). Once searched out, full-size and
// the found size are tried every time, so a healed (or shrunk) path is seen at once.

export interface PathMtuState {
  /** The small probe's size: always carried, or the peer counts as unreachable. */
  floor: number
  /** Largest IPv4 size answered (at least the small probe's). */
  confirmed: number
  /** Smallest IPv4 size refused (lost while the small probe came back, or EMSGSIZE here). */
  refused?: number
  /** Refusals in a row of a size that was carried before: one is chance, two say the path shrank. */
  strikes: number
}

export function newPathMtu(floor: number): PathMtuState {
  return { floor, confirmed: floor, strikes: 0 }
}

export const LADDER = 6

/** Sizes of the next MTU probes for `target`: the target, or a ladder over the searched range. */
export function nextMtuProbes(s: PathMtuState, target: number): number[] {
  if (s.confirmed >= target || s.refused === undefined || s.refused > target) return [target]
  if (s.refused - s.confirmed <= 1) return [target, s.confirmed] // searched out: recheck both ends
  const sizes = new Set<number>()
  for (let i = 1; i <= LADDER; i++) {
    const size = Math.round(s.confirmed + ((s.refused - s.confirmed) * i) / (LADDER + 1))
    if (size > s.confirmed && size < s.refused) sizes.add(size)
  }
  return [...sizes]
}

/** A probe of `size` was answered. */
export function mtuAnswered(s: PathMtuState, size: number): void {
  s.strikes = 0
  if (size > s.confirmed) s.confirmed = size
  if (s.refused !== undefined && s.refused <= s.confirmed) delete s.refused
}

/** A probe of `size` was refused: lost while a small one got through, or too big to send. */
export function mtuRefused(s: PathMtuState, size: number): void {
  if (size <= s.confirmed) {
    if (++s.strikes < 2) return
    s.confirmed = s.floor // the path shrank below what it carried: search again
  }
  s.strikes = 0
  if (s.refused === undefined || size < s.refused) s.refused = size
}

/** What to report: the path MTU when known (the target when full-size probes pass), else undefined. */
export function pathMtu(s: PathMtuState, target: number): number | undefined {
  if (s.confirmed >= target) return target
  if (s.refused !== undefined && s.refused - s.confirmed <= 1) return s.confirmed
  return undefined
}
