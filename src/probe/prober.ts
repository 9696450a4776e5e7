// The prober: tells "this peer's datapath answers" apart from "this peer's agent holds its
// lease". Every interval it sends each peer (probeTargets) a small probe and a DF probe sized
// for the path MTU, to the peer's VTEP, which its BPF program answers (bpf/lib/probe.h) with no
// agent involved; it reads the replies with the kernel's receive timestamps, and judges each
// peer up (answered within downAfterMs), down (answered before, silent since) or unknown
// (never answered: a kernel-datapath peer, or one that does not admit us yet). The reconciler
// asks it (judge) where a node's endpoints are and whether to send to them.
//
// Design notes (2026-12, issue 12 item 4):
// - A node's VTEP is remembered from its node record: once the lease is gone, the record is
//   too, and only the prober still knows where the node's endpoints live. At start the agent
//   seeds the memory from the datapath (remote endpoints it still programs), so a restart of
//   this agent while a peer's agent is down keeps that peer's endpoints as well.
// - Lease present, probes silent: down, endpoints dropped (a host that is gone goes within
//   downAfterMs + one interval, not after 2 x TTL). Lease gone, probes answered: up, kept.
//   Never answered: the lease alone decides (peers that cannot answer lose nothing). A peer
//   whose record says it runs the kernel datapath is not probed (its vxlan device would drop
//   the probes as bad VXLAN) and is judged by its lease alone: gone with its lease (not even
//   a member: on a kernel host that would keep flooding to it), kept while it holds (a seeded
//   one that stayed silent is not down).
// - Replies are drained on a short schedule after each round, not on a busy timer: a round
//   trip is the kernel's receive time minus the send time, so draining late costs no accuracy.
//   Each round drains before it expires anything, and down takes lost probes as well as time
//   (peer.ts DOWN_AFTER_LOST): a stalled agent does not mistake its own stall for dead peers.
// - What doctor reads beside the judgement (issue 12 item 5): while a peer's probes go
//   unanswered, an ICMP echo to its VTEP each round (echo.ts: the host there, UDP 4789 lost on
//   the way, or neither); each liveness probe asks about one more VNI both serve, in turn (the
//   peer's BPF says whether it serves it); and since when a peer's node record is gone.
import { randomInt } from 'node:crypto'
import type { ClusterView, NodeRecord } from '../cluster/index.ts'
import type { RemoteEndpointSpec } from '../datapath/types.ts'
import type { PeerLiveness } from '../reconcile/index.ts'
import { PeerProbe, type PeerReport } from './peer.ts'
import { openEchoSocket, type EchoSocket } from './echo.ts'
import { openProbeSocket, type ProbeSocket } from './socket.ts'
import { seedsFromDatapath } from './seed.ts'
import { probeTargets, type ProbeTarget } from './targets.ts'
import { MIN_PROBE_IP_BYTES, parseReply, probeRequest } from './wire.ts'

export interface ProberOptions {
  /** This node's name (its own endpoints are not probed). */
  me: string
  view: () => ClusterView
  socket: ProbeSocket
  /** ICMP echo to silent peers' VTEPs (absent: not asked, doctor cannot tell a filter from a gone host). */
  echo?: EchoSocket
  /** A wakeup when any peer's judgement changes (the reconciler's trigger). */
  onChange?: () => void
  log?: { info(o: object, m?: string): void; warn(o: object, m?: string): void }
  /** Between two rounds (default 500 ms). */
  intervalMs?: number
  /** Silent this long after an answer: down (default 3000 ms). */
  downAfterMs?: number
  /** A probe unanswered this long is lost (default 1000 ms). */
  timeoutMs?: number
}

/** When to drain replies after a round (ms after it). */
const DRAIN_SCHEDULE_MS = [2, 10, 30, 60, 120, 250, 400]

export class Prober implements PeerLiveness {
  private readonly id = randomInt(1, 2 ** 31)
  private readonly peers = new Map<string, PeerProbe>()
  /** node -> VTEP, kept after the node record is gone. */
  private readonly remembered = new Map<string, string>()
  /** probe seq -> the node it went to */
  private readonly inFlight = new Map<number, string>()
  private seq = 0
  private round = 0
  private judged = 0
  private sendErrors = 0
  private lastView: ClusterView | undefined
  private targets: ProbeTarget[] = []
  /** The view or the remembered VTEPs changed since `targets` was derived. */
  private targetsStale = true
  private timer: ReturnType<typeof setInterval> | undefined
  private drains: ReturnType<typeof setTimeout>[] = []
  private readonly intervalMs: number
  private readonly downAfterMs: number
  private readonly timeoutMs: number

  constructor(private readonly o: ProberOptions) {
    this.intervalMs = o.intervalMs ?? 500
    this.downAfterMs = o.downAfterMs ?? 3000
    this.timeoutMs = o.timeoutMs ?? 1000
  }

  start(): void {
    if (this.timer) return
    this.timer = setInterval(() => this.tick(), this.intervalMs)
    this.tick()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
    for (const t of this.drains.splice(0)) clearTimeout(t)
    this.o.socket.close()
    this.o.echo?.close()
  }

  /** Remember `node` at `vtep` and count it as answering now (its endpoints are still programmed here). */
  seed(node: string, vtep: string): void {
    if (node === this.o.me || this.remembered.has(node)) return
    this.remembered.set(node, vtep)
    this.refresh()
    const p = this.peers.get(node)
    if (p && p.vtep === vtep) p.assumeUp(this.nowMs())
  }

  judge(
    node: string,
    record: NodeRecord | undefined,
  ): { vtep: string; forward: boolean } | undefined {
    const peer = this.peers.get(node)
    // a kernel-datapath peer cannot answer: its silence says nothing, its lease decides alone
    // (else one seeded as up at start would turn down, and lose its endpoints while its lease holds)
    if (record?.datapath === 'kernel' || (!record && peer?.answersProbes === false))
      return record ? { vtep: record.advertise, forward: true } : undefined
    const state = peer?.state ?? 'unknown'
    if (record) return { vtep: record.advertise, forward: state !== 'down' }
    const vtep = this.remembered.get(node)
    return vtep ? { vtep, forward: state === 'up' } : undefined
  }

  version(): number {
    return this.judged
  }

  /** What probes say about every peer probed now. */
  reports(): PeerReport[] {
    this.noteRecords(this.o.view()) // a record gone since the last round is gone now
    const now = this.nowMs()
    return [...this.peers.values()].map((p) => p.report(now))
  }

  /** Probes that could not be sent at all (no route, link down), since start. */
  sendErrorCount(): number {
    return this.sendErrors
  }

  /** One round: follow the view, expire, send, judge. Public for tests (no timers needed). */
  tick(): void {
    this.drain() // replies that came while this process was busy are answers, not losses
    this.refresh()
    const now = this.nowMs()
    this.expire(now)
    this.round++
    // a kernel-datapath peer cannot answer: probes would only be dropped there (as bad VXLAN)
    for (const p of this.peers.values()) if (p.answersProbes) this.sendTo(p, now)
    this.judge_(now)
    for (const t of this.drains.splice(0)) clearTimeout(t)
    if (this.timer) this.drains = DRAIN_SCHEDULE_MS.map((ms) => setTimeout(() => this.drain(), ms))
  }

  /** Read every waiting reply. Public for tests. */
  drain(): void {
    this.drainEcho()
    let got: ReturnType<ProbeSocket['drain']>
    try {
      got = this.o.socket.drain()
    } catch (e) {
      this.o.log?.warn(
        { err: (e as Error).message },
        'reading probe replies failed; peers may look silent',
      )
      return
    }
    if (!got.length) return
    const now = this.nowMs()
    for (const r of got) {
      const reply = parseReply(r.data)
      if (!reply || reply.id !== this.id) continue
      const node = this.inFlight.get(reply.seq)
      const p = node === undefined ? undefined : this.peers.get(node)
      if (!p || p.vtep !== r.from) continue
      this.inFlight.delete(reply.seq)
      p.answer(reply.seq, Math.max(0, Number(r.rxNs - reply.sentNs) / 1e6), now, reply.asked)
    }
    this.judge_(now)
  }

  private drainEcho(): void {
    if (!this.o.echo) return
    try {
      for (const r of this.o.echo.drain())
        for (const p of this.peers.values()) if (p.vtep === r.from) p.echoReply()
    } catch (e) {
      this.o.log?.warn({ err: (e as Error).message }, 'reading ICMP echo replies failed')
    }
  }

  private nowMs(): number {
    return Number(this.o.socket.nowNs() / 1_000_000n)
  }

  /** Targets from the view (once per view), peers added, moved or dropped to match. */
  private refresh(): void {
    const view = this.o.view()
    if (view !== this.lastView) {
      this.lastView = view
      for (const [name, rec] of view.nodes) {
        if (name === this.o.me || this.remembered.get(name) === rec.advertise) continue
        this.remembered.set(name, rec.advertise)
        this.targetsStale = true
      }
      this.targetsStale = true
    }
    // a pass over every endpoint of the view: once per view (and per change of remembered VTEPs), not per tick
    if (this.targetsStale) this.targets = probeTargets(view, this.o.me, this.remembered)
    this.targetsStale = false
    const wanted = new Map(this.targets.map((t) => [t.node, t]))
    let changed = false
    for (const [node, p] of this.peers) {
      const t = wanted.get(node)
      if (t && t.vtep === p.vtep) {
        p.vni = t.vni
        p.vnis = t.vnis
        p.mtuTarget = t.mtuTarget
        continue
      }
      this.peers.delete(node) // no longer shares a network with us, or moved to another VTEP
      changed ||= p.state !== 'unknown'
    }
    for (const t of this.targets) {
      if (this.peers.has(t.node)) continue
      const p = new PeerProbe(t.node, t.vtep, t.vni, t.mtuTarget, MIN_PROBE_IP_BYTES)
      p.vnis = t.vnis
      this.peers.set(t.node, p)
    }
    this.noteRecords(view)
    // a node that shares nothing with us any more is forgotten, record or not
    for (const node of [...this.remembered.keys()])
      if (!wanted.has(node) && !view.nodes.has(node))
        this.targetsStale = this.remembered.delete(node) || this.targetsStale
    if (changed) this.bump()
  }

  /** Since when each peer's node record is gone (first seen gone by this prober). */
  private noteRecords(view: ClusterView): void {
    const now = this.nowMs()
    for (const [node, p] of this.peers) {
      const rec = view.nodes.get(node)
      p.recordGoneAt = rec ? undefined : (p.recordGoneAt ?? now)
      if (rec) p.answersProbes = rec.datapath !== 'kernel'
    }
  }

  private expire(now: number): void {
    for (const p of this.peers.values())
      for (const seq of p.expire(now, this.timeoutMs)) this.inFlight.delete(seq)
    // sequence numbers of peers dropped since: nobody waits for them
    for (const [seq, node] of this.inFlight) if (!this.peers.has(node)) this.inFlight.delete(seq)
  }

  private sendTo(p: PeerProbe, now: number): void {
    const sizes = p.sizes()
    const sentNs = this.o.socket.nowNs()
    if (this.o.echo && p.wantsEcho()) {
      try {
        this.o.echo.send(p.vtep, this.round)
        p.echoSent()
      } catch (e) {
        if (this.sendErrors++ % 100 === 0)
          this.o.log?.warn(
            { peer: p.node, err: (e as Error).message },
            'sending an ICMP echo failed',
          )
      }
    }
    for (const [kind, size] of [
      ['live', sizes.live] as const,
      ...sizes.mtu.map((s) => ['mtu', s] as const),
    ]) {
      const seq = (this.seq = (this.seq + 1) >>> 0)
      let r: 'sent' | 'too-big'
      try {
        const askVni = kind === 'live' ? p.nextAsk() : 0
        r = this.o.socket.send(
          p.vtep,
          probeRequest({ vni: p.vni, id: this.id, seq, sentNs, askVni }, size),
        )
      } catch (e) {
        // counted as lost (it times out) and counted here: no route, or our own link is down
        if (this.sendErrors++ % 100 === 0)
          this.o.log?.warn({ peer: p.node, err: (e as Error).message }, 'sending a probe failed')
        r = 'sent'
      }
      if (r === 'too-big') {
        p.tooBig(size)
        continue
      }
      p.sentProbe(seq, kind, size, this.round, now)
      this.inFlight.set(seq, p.node)
    }
  }

  private judge_(now: number): void {
    let changed = false
    for (const p of this.peers.values()) {
      const before = p.state
      if (!p.evaluate(now, this.downAfterMs)) continue
      changed = true
      this.o.log?.info(
        { peer: p.node, vtep: p.vtep, from: before, to: p.state },
        `peer datapath ${p.state}`,
      )
    }
    if (changed) this.bump()
  }

  private bump(): void {
    this.judged++
    this.o.onChange?.()
  }
}

/**
 * The agent's prober: its socket bound to the advertise address, seeded with the peers the
 * datapath still programs (`programmed`: its remote endpoints, read back at start).
 */
export function createProber(
  o: Omit<ProberOptions, 'socket'> & { advertise: string; programmed: RemoteEndpointSpec[] },
): Prober {
  let echo: EchoSocket | undefined
  try {
    echo = openEchoSocket(o.advertise)
  } catch (e) {
    o.log?.warn(
      { err: (e as Error).message },
      'no ICMP echo to silent peers: doctor cannot tell UDP 4789 filtered from a host gone',
    )
  }
  const prober = new Prober({ ...o, socket: openProbeSocket(o.advertise), ...(echo && { echo }) })
  for (const [node, vtep] of seedsFromDatapath(o.view(), o.programmed, o.me))
    prober.seed(node, vtep)
  return prober
}
