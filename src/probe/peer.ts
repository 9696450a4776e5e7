// One peer as its probes tell it (pure): whether its datapath answers, round-trip time, loss
// and path MTU. The prober feeds it sends, answers and timeouts with a millisecond clock.
import {
  mtuAnswered,
  mtuRefused,
  newPathMtu,
  nextMtuProbes,
  pathMtu,
  type PathMtuState,
} from './path-mtu.ts'

/** up: answered within the down-after time; down: answered before, silent since; unknown: never answered. */
export type DatapathState = 'up' | 'down' | 'unknown'

export interface PeerReport {
  node: string
  vtep: string
  /** The VNI probes carry (a network both hosts serve). */
  vni: number
  state: DatapathState
  /** Smoothed round trip of answered probes (as TCP's SRTT), ms. */
  rttMs?: number
  /** Share of the last LOSS_WINDOW liveness probes that went unanswered, 0..1. */
  loss: number
  sent: number
  answered: number
  /** Path MTU as IPv4 bytes, when known: the target while full-size probes come back. */
  pathMtu?: number
  /** What the overlay needs: the largest shared network MTU + the VXLAN overhead. */
  mtuTarget: number
  /** ms since the last answer. */
  lastAnswerMs?: number
}

export const LOSS_WINDOW = 20
/**
 * Down also takes this many liveness probes lost in a row, not only time: an agent that stalled
 * (no probes sent, no replies read) must not call its peers dead for its own silence.
 */
export const DOWN_AFTER_LOST = 3
/** Answers older than this (in rounds) no longer tell whether an MTU probe of that round was refused. */
const ROUND_MEMORY = 8

interface Outstanding {
  at: number
  size: number
  kind: 'live' | 'mtu'
  round: number
}

export class PeerProbe {
  state: DatapathState = 'unknown'
  private lastAnswerAt: number | undefined
  private srttMs: number | undefined
  private readonly window: boolean[] = []
  private sent = 0
  private answered = 0
  private lostInRow = 0
  private readonly mtu: PathMtuState
  private readonly outstanding = new Map<number, Outstanding>()
  private readonly answeredRounds = new Set<number>()

  constructor(
    readonly node: string,
    readonly vtep: string,
    public vni: number,
    public mtuTarget: number,
    private readonly smallSize: number,
  ) {
    this.mtu = newPathMtu(smallSize)
  }

  /** Count it as having answered `now` (adopted at start from what the datapath still programs). */
  assumeUp(now: number): void {
    this.lastAnswerAt = now
    this.state = 'up'
  }

  /**
   * Sizes to send this round: the liveness probe, and MTU probes unless the last ones are still
   * out (their answers, or their loss, decide the next sizes).
   */
  sizes(): { live: number; mtu: number[] } {
    // a silent peer gets only the small probe: full-size ones would only load the underlay
    const waiting =
      this.state === 'down' || [...this.outstanding.values()].some((o) => o.kind === 'mtu')
    const mtu = waiting
      ? []
      : nextMtuProbes(this.mtu, this.mtuTarget).filter((s) => s > this.smallSize)
    return { live: this.smallSize, mtu }
  }

  sentProbe(seq: number, kind: 'live' | 'mtu', size: number, round: number, now: number): void {
    this.outstanding.set(seq, { at: now, size, kind, round })
    if (kind === 'live') this.sent++
  }

  /** The local MTU refused an MTU probe (EMSGSIZE): a refusal without the wire. */
  tooBig(size: number): void {
    mtuRefused(this.mtu, size)
  }

  /** A reply to `seq` arrived; false when it was not ours (or came too late). */
  answer(seq: number, rttMs: number, now: number): boolean {
    const o = this.outstanding.get(seq)
    if (!o) return false
    this.outstanding.delete(seq)
    this.lastAnswerAt = now
    this.lostInRow = 0
    this.srttMs = this.srttMs === undefined ? rttMs : this.srttMs + (rttMs - this.srttMs) / 8
    if (o.kind === 'live') {
      this.answered++
      this.record(true)
      this.answeredRounds.add(o.round)
      for (const r of this.answeredRounds)
        if (r < o.round - ROUND_MEMORY) this.answeredRounds.delete(r)
    } else {
      mtuAnswered(this.mtu, o.size)
    }
    return true
  }

  /** Probes unanswered after `timeoutMs` are lost; returns their sequence numbers. */
  expire(now: number, timeoutMs: number): number[] {
    const lost: number[] = []
    for (const [seq, o] of this.outstanding) {
      if (now - o.at <= timeoutMs) continue
      this.outstanding.delete(seq)
      lost.push(seq)
      if (o.kind === 'live') (this.record(false), this.lostInRow++)
      else if (this.answeredRounds.has(o.round)) mtuRefused(this.mtu, o.size) // small got through, big did not
    }
    return lost
  }

  /** The datapath state at `now`; returns whether it changed. */
  evaluate(now: number, downAfterMs: number): boolean {
    const silent =
      this.lastAnswerAt !== undefined &&
      now - this.lastAnswerAt > downAfterMs &&
      this.lostInRow >= DOWN_AFTER_LOST
    const next: DatapathState = this.lastAnswerAt === undefined ? 'unknown' : silent ? 'down' : 'up'
    const changed = next !== this.state
    this.state = next
    return changed
  }

  pendingCount(): number {
    return this.outstanding.size
  }

  report(now: number): PeerReport {
    const lost = this.window.filter((ok) => !ok).length
    const mtu = pathMtu(this.mtu, this.mtuTarget)
    return {
      node: this.node,
      vtep: this.vtep,
      vni: this.vni,
      state: this.state,
      ...(this.srttMs !== undefined && { rttMs: this.srttMs }),
      loss: this.window.length ? lost / this.window.length : 0,
      sent: this.sent,
      answered: this.answered,
      ...(mtu !== undefined && { pathMtu: mtu }),
      mtuTarget: this.mtuTarget,
      ...(this.lastAnswerAt !== undefined && {
        lastAnswerMs: Math.max(0, now - this.lastAnswerAt),
      }),
    }
  }

  private record(ok: boolean): void {
    this.window.push(ok)
    if (this.window.length > LOSS_WINDOW) this.window.shift()
  }
}
