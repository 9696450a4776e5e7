// Path MTU between two VTEPs, found with DF probes (pure). The target is the largest packet the
// overlay puts on the underlay: the network MTU + the VXLAN overhead (as IPv4 bytes). While
// full-size probes come back the path is fine; when one is lost but the small probe of the
// same round is answered, the size is suspect and a binary search between the largest
// answered and the smallest refused size runs, one probe a round, until they meet. A full-size
// probe is tried again every round, so a healed path is seen at once.

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

/** Size of this round's MTU probe for `target`: the target, or the middle of the search. */
export function nextMtuProbe(s: PathMtuState, target: number, round: number): number {
  if (s.confirmed >= target || s.refused === undefined || s.refused > target) return target
  if (s.refused - s.confirmed <= 1) return round % 2 ? target : s.confirmed // searched out: recheck both ends
  return Math.floor((s.confirmed + s.refused) / 2)
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
