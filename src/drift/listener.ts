// Drift detection's two triggers: the kernel's rtnetlink notifications in the host netns (a
// link, tc filter or qdisc, address or neighbour/FDB entry deleted, or another program's filter
// put on a veth), which ask for a comparison at once (and name the veth whose filter to dump), and a periodic full comparison by the guard itself
// (DriftGuard.check: a reconciler pass only when it finds something), the backstop for what the
// kernel does not announce (BPF map entries, pins, a detached tcx link) and for sandbox ends.
//
// Design notes (2026-12): no listener inside sandboxes. A socket holds a reference to its
// network namespace, so a socket in a container's namespace would keep it alive after
// `ip netns del` (and its veth with it), defeating the release of gone sandboxes. Sandbox ends
// are read by the periodic comparison instead (open, dump, close). The socket is non-blocking
// and read on a short timer: bun:ffi has no readiness callback for a raw fd.
import { getLibc } from '../sys/index.ts'
import { decodeEvent, type RtnlEvent } from './rtnl-decode.ts'
import { Group, RTM, RtnlChannel } from './rtnl.ts'
import type { DriftGuard } from './guard.ts'
import { ENDPOINT_PROGRAM } from './kernel-reads.ts'

export interface DriftListenerOptions {
  guard: DriftGuard
  /** Ask the reconciler for a pass with a fresh read of the kernel (reconciler.resync). */
  compare: () => void
  /** Full comparison period (default 5 s: repairs land within 10 s), stretched to 10x the last comparison's wall time when that is longer. */
  periodMs?: number
  /** How often the notification socket is read (default 100 ms). */
  pollMs?: number
  /** The underlay NIC's ifindex: its deletion or a lost address matters too. */
  underlayIfindex?: number
  log?: { info: (o: object, m?: string) => void; warn: (o: object, m?: string) => void }
}

/** Whether a host notification may mean drift (pure): deletions of weft's objects. */
export function isDriftEvent(
  e: RtnlEvent,
  nameOf: (ifindex: number) => string | undefined,
  underlayIfindex?: number,
): boolean {
  if (!e.deleted) return false
  switch (e.what) {
    case 'link':
      return !!e.ifname?.startsWith('wf') || e.ifindex === underlayIfindex
    case 'address':
      return e.ifindex === underlayIfindex
    // weft's own devices only: the underlay's ARP entries come and go by themselves, and its
    // program hangs off a tcx link, not a filter (a detached link is found by the comparison)
    case 'neighbour':
    case 'qdisc':
    case 'filter':
      return !!nameOf(e.ifindex)?.startsWith('wf')
    default:
      return false
  }
}

/**
 * A new tc filter on one of weft's veths that is a BPF program but not the endpoint program:
 * `tc filter replace` put another in its place (pure). The drift guard dumps the filters of
 * veths only at a share of its comparisons (FILTER_BACKSTOP_SHARES), so this is heard here.
 */
export function isForeignFilter(
  e: RtnlEvent,
  nameOf: (ifindex: number) => string | undefined,
  program = ENDPOINT_PROGRAM,
): boolean {
  if (e.what !== 'filter' || e.deleted || e.kind !== 'bpf') return false
  if (e.bpfName === program || e.bpfName?.startsWith(`${program}:`)) return false
  return !!nameOf(e.ifindex)?.startsWith('wf')
}

/**
 * Only deletions can be drift (isDriftEvent), and new filters (isForeignFilter): the rest of
 * the host's notifications are not copied or decoded. On a busy host (three agents on one kernel in the bench) they are every
 * other agent's veths, qdiscs and filters too: decoding them all was ~0.5 s of a converge.
 */
const MAY_BE_DRIFT: ReadonlySet<number> = new Set([
  RTM.DELLINK,
  RTM.DELADDR,
  RTM.DELNEIGH,
  RTM.DELQDISC,
  RTM.DELTFILTER,
  RTM.NEWTFILTER,
])
const mayBeDrift = (type: number) => MAY_BE_DRIFT.has(type)

/** The period is at least this many times the last full comparison's own time. */
const COMPARE_COST_FACTOR = 10

export class DriftListener {
  private channel: RtnlChannel | undefined
  private poll: ReturnType<typeof setInterval> | undefined
  private period: ReturnType<typeof setTimeout> | undefined
  /** Notifications that asked for a comparison (for tests and doctor). */
  heard = 0

  constructor(private readonly opts: DriftListenerOptions) {}

  start(): void {
    this.channel = RtnlChannel.open({
      groups: [Group.LINK, Group.NEIGH, Group.TC, Group.IPV4_IFADDR],
    })
    this.poll = setInterval(() => this.drain(), this.opts.pollMs ?? 100)
    this.schedulePeriod()
  }

  /**
   * The next full comparison after the period, stretched to 10x the wall time (with what ran
   * in its yields) of the last sweep of every sandbox end: it runs beside the reconciler's
   * passes now, but its netlink dumps still slow every attach on a busy host.
   */
  private schedulePeriod(): void {
    const cost = this.opts.guard.lastFullCompare.wallMs
    const ms = Math.max(this.opts.periodMs ?? 5000, cost * COMPARE_COST_FACTOR)
    this.period = setTimeout(() => {
      this.opts.guard.hintSandbox() // the full comparison reads every sandbox end too
      // the guard compares by itself and asks for a reconciler pass only when something differs
      this.opts.guard
        .check()
        .catch((e) => {
          this.opts.log?.warn(
            { err: (e as Error).message },
            'the periodic drift comparison failed; a reconciler pass reads the kernel instead',
          )
          this.opts.compare()
        })
        .finally(() => {
          if (this.poll) this.schedulePeriod()
        })
    }, ms)
  }

  stop(): void {
    if (this.poll) clearInterval(this.poll)
    if (this.period) clearTimeout(this.period)
    this.poll = this.period = undefined
    this.channel?.close()
    this.channel = undefined
  }

  private drain(): void {
    if (!this.channel) return
    let got
    try {
      got = this.channel.drain(mayBeDrift)
    } catch (e) {
      this.opts.log?.warn(
        { err: (e as Error).message },
        'reading rtnetlink notifications failed; the periodic comparison goes on',
      )
      return
    }
    const sys = getLibc()
    const names = new Map<number, string | undefined>()
    const nameOf = (i: number) =>
      names.has(i) ? names.get(i) : (names.set(i, sys.ifIndexToName(i)), names.get(i))
    let drift = got.overflowed
    // what was lost may have been a filter's removal: every veth's filter is dumped
    if (got.overflowed) this.opts.guard.hintFilter()
    for (const m of got.messages) {
      const e = decodeEvent(m)
      if (!e) continue
      const foreign = isForeignFilter(e, nameOf)
      if (!foreign && !isDriftEvent(e, nameOf, this.opts.underlayIfindex)) continue
      drift = true
      if (e.what === 'filter' || e.what === 'qdisc') this.opts.guard.hintFilter(e.ifindex)
      if (e.what === 'neighbour') {
        const vni = /^wfvx(\d+)$/.exec(nameOf(e.ifindex) ?? '')?.[1]
        if (e.fdb && e.mac) this.opts.guard.hintNeighbour('fdb', e.mac)
        if (!e.fdb && e.ip && vni) this.opts.guard.hintNeighbour('neighbour', `${vni}/${e.ip}`)
      }
    }
    if (drift) {
      this.heard++
      this.opts.compare()
    }
  }
}
