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
  /** Liveness probes lost in a row now (0 while the last one was answered). */
  lostInRow: number
  /**
   * ICMP echo to its VTEP, asked while probes go unanswered: 'answers' (an echo came back since
   * the probes fell silent, and lately), 'silent' (the last ECHOES_FOR_SILENT unanswered),
   * absent while probes are answered or nothing is known yet.
   */
  echo?: 'answers' | 'silent'
  /** VNIs both serve whose latest probe the peer answered with "not served" (VNI unknown there). */
  vnisNotServed: number[]
  /** Epoch ms since when its node record is gone from the store (absent while it has one). */
  recordGoneAt?: number
}

export const LOSS_WINDOW = 20
/**
 * Down also takes this many liveness probes lost in a row, not only time: an agent that stalled
 * (no probes sent, no replies read) must not call its peers dead for its own silence.
 */
export const DOWN_AFTER_LOST = 3
/** Answers older than this (in rounds) no longer tell whether an MTU probe of that round was refused. */
const ROUND_MEMORY = 8
/** Echoes unanswered since the probes fell silent before the echo counts as silent too. */
export const ECHOES_FOR_SILENT = 3

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
  /** Every VNI both serve (the probes' own `vni` among them): asked about in turn. */
  vnis: number[] = []
  private askTurn = 0
  /** vni -> served, as the latest answer to a probe asking about it said. */
  private readonly asked = new Map<number, boolean>()
  /** Echoes sent since the last echo reply (or since the probes fell silent). */
  private echoesUnanswered = 0
  private echoAnswered = false
  recordGoneAt: number | undefined
  /** False for a kernel-datapath peer (its record says so): it cannot answer probes, so no echo either. */
  answersProbes = true

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

  /** The VNI the next liveness probe asks about: each shared one but the probe's own in turn (0: none). */
  nextAsk(): number {
    const others = this.vnis.filter((v) => v !== this.vni)
    for (const v of [...this.asked.keys()]) if (!this.vnis.includes(v)) this.asked.delete(v)
    if (!others.length) return 0
    return others[this.askTurn++ % others.length]!
  }

  /** Whether to ask ICMP echo this round: while liveness probes go unanswered. */
  wantsEcho(): boolean {
    return this.lostInRow > 0 && (this.answersProbes || this.state !== 'unknown')
  }

  echoSent(): void {
    this.echoesUnanswered++
  }

  echoReply(): void {
    if (this.lostInRow === 0) return
    this.echoAnswered = true
    this.echoesUnanswered = 0
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
  answer(
    seq: number,
    rttMs: number,
    now: number,
    asked?: { vni: number; served: boolean },
  ): boolean {
    const o = this.outstanding.get(seq)
    if (!o) return false
    this.outstanding.delete(seq)
    this.lastAnswerAt = now
    this.lostInRow = 0
    this.echoesUnanswered = 0
    this.echoAnswered = false
    this.asked.set(this.vni, true) // an answer at all: the probe's own VNI is served there
    if (asked) this.asked.set(asked.vni, asked.served)
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
      if (o.kind === 'live') {
        this.record(false)
        if (this.lostInRow++ === 0) ((this.echoesUnanswered = 0), (this.echoAnswered = false))
      } else if (this.answeredRounds.has(o.round)) mtuRefused(this.mtu, o.size) // small got through, big did not
    }
    return lost
  }

  /** The datapath state at `now`; returns whether it changed. */
  evaluate(now: number, downAfterMs: number): boolean {
    const silent =
      this.lastAnswerAt !== undefined &&
      now - this.lastAnswerAt > downAfterMs &&
      this.lostInRow >= DOWN_AFTER_LOST
    // a kernel-datapath peer is never probed: what a seed assumed of it says nothing either
    const next: DatapathState =
      !this.answersProbes || this.lastAnswerAt === undefined ? 'unknown' : silent ? 'down' : 'up'
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
      lostInRow: this.lostInRow,
      ...(this.echoState() && { echo: this.echoState() }),
      vnisNotServed: [...this.asked]
        .filter(([vni, served]) => !served && this.vnis.includes(vni))
        .map(([vni]) => vni),
      ...(this.recordGoneAt !== undefined && { recordGoneAt: this.recordGoneAt }),
      ...(this.lastAnswerAt !== undefined && {
        lastAnswerMs: Math.max(0, now - this.lastAnswerAt),
      }),
    }
  }

  /** What ICMP echo says while probes go unanswered (see PeerReport.echo). */
  private echoState(): 'answers' | 'silent' | undefined {
    if (this.lostInRow === 0) return undefined
    if (this.echoesUnanswered >= ECHOES_FOR_SILENT) return 'silent' // none back lately
    return this.echoAnswered ? 'answers' : undefined
  }

  private record(ok: boolean): void {
    this.window.push(ok)
    if (this.window.length > LOSS_WINDOW) this.window.shift()
  }
}
