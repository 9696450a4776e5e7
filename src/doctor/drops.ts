// Drops by reason since when: the datapath's counters are totals since they were created, so
// the doctor keeps a few samples and reports what was dropped within the recent window (an old
// burst is history, not a problem on the path now).
import type { VniStats } from '../datapath/types.ts'

/** What each drop reason means, in words (bpf reasons; the kernel datapath has only totals). */
export const DROP_WORDS: Readonly<Record<string, string>> = {
  truncated: 'packets too short to parse',
  not_vxlan_flag: 'VXLAN without the I flag',
  unknown_vni: 'VXLAN for a VNI this host does not serve (VNI unknown here)',
  vtep_not_member: 'VXLAN from a VTEP that is not a member of the VNI',
  unknown_dst: 'packets to an overlay address no endpoint has',
  unknown_src_if: 'packets from a veth the datapath does not know',
  src_spoof: "packets whose source is not the endpoint's own address or MAC",
  bum: 'broadcast or multicast with no member VTEP to replicate to',
  not_ipv4: 'non-IPv4 frames on the overlay',
  inner_not_ipv4: 'decapsulated frames that are not IPv4',
  arp_unanswered: 'ARP requests for addresses no endpoint has',
  too_big: 'packets over the network MTU (ICMP fragmentation-needed sent back)',
  outer_frag: 'fragmented VXLAN (the underlay MTU is too small for the overlay MTU + 50)',
  no_config: 'packets before the datapath was configured',
  encap_failed: 'encapsulation failures',
  decap_failed: 'decapsulation failures',
  icmp_failed: 'ICMP replies that could not be built',
  bad_ip: 'malformed IPv4 headers',
  loop: 'packets that would loop back to their sender',
  inner_src_spoof: "decapsulated packets whose source is not the remote endpoint's",
  rx_dropped: 'packets the vxlan device dropped on receive',
  rx_errors: 'receive errors of the vxlan device (bad VNI or header)',
  tx_dropped: 'packets the vxlan device dropped on send (no FDB entry or route to the VTEP)',
  tx_errors: 'send errors of the vxlan device',
}

interface Sample {
  at: number
  /** "vni reason" -> packets */
  drops: Map<string, bigint>
}

export interface DropDelta {
  vni: number
  reason: string
  packets: bigint
  /** Since when (epoch ms): the oldest sample within the window. */
  since: number
}

export class DropHistory {
  private readonly samples: Sample[] = []

  constructor(
    private readonly windowMs = 15_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record the counters as they are now. */
  add(stats: VniStats[]): void {
    const drops = new Map<string, bigint>()
    for (const s of stats)
      for (const [reason, n] of Object.entries(s.drops)) drops.set(`${s.vni} ${reason}`, n)
    const at = this.now()
    this.samples.push({ at, drops })
    while (this.samples.length > 2 && this.samples[1]!.at <= at - this.windowMs)
      this.samples.shift()
  }

  /** Drops since the oldest sample in the window, up to the newest (add() first). */
  recent(): DropDelta[] {
    const first = this.samples[0]
    const last = this.samples[this.samples.length - 1]
    if (!first || !last || first === last) return []
    const out: DropDelta[] = []
    for (const [k, n] of last.drops) {
      const d = n - (first.drops.get(k) ?? 0n)
      if (d <= 0n) continue
      const [vni, reason] = k.split(' ')
      out.push({ vni: Number(vni), reason: reason!, packets: d, since: first.at })
    }
    return out.sort((a, b) => a.vni - b.vni || a.reason.localeCompare(b.reason))
  }
}
