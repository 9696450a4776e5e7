// What the vxlan devices hold of remote endpoints and flood lists, kept in memory per VNI and
// changed over one rtnetlink socket.
//
// Why (2026-12, measured): an upsert used to run four processes (`ip neigh show`, `bridge fdb
// show` to diff against, then `bridge -batch` and `ip -batch`), ~20 ms each on the 3-host
// bench and growing with the table (every show lists the whole network). The reconciler
// programs remote endpoints one after another before it attaches local ones, so 1,000
// endpoints over 3 hosts (~670 remote per host) held every attach back past its 15 s timeout.
// Now the tables come from a full kernel read (at start, in `actual()`, or when a network's
// table is missing) and every change is a netlink request of microseconds.
//
// The table only decides clean-up (the old MAC of an address that moved, a MAC no longer used);
// wanted entries are always written (replace/append are idempotent), so a table that is behind
// the kernel never leaves an entry out. Any failed request drops the network's table: the
// next call reads it again.
import { Errno } from '../../sys/index.ts'
import { NetlinkError, RtnlSocket, type NetlinkMessage } from '../../net/index.ts'
import { dumpKernel } from './dump.ts'
import { vxlanName, ZERO_MAC } from './names.ts'
import {
  fdbAddMessage,
  fdbDeleteMessage,
  neighDeleteMessage,
  neighReplaceMessage,
} from './neigh-messages.ts'
import { networksOf, type FdbJson, type KernelView, type NeighJson } from './read.ts'

/** One vxlan device's remote state. */
export interface VniTable {
  ifindex: number
  /** Permanent neighbours: remote IP -> MAC. */
  neigh: Map<string, string>
  /** Unicast FDB entries of the device itself: MAC -> VTEPs (one, normally). */
  fdb: Map<string, string[]>
  /** The flood list (all-zero MAC entries): VTEPs. */
  flood: Set<string>
}

/** Build a device's table from its neighbour and FDB listings (pure). */
export function tableFrom(ifindex: number, neighs: NeighJson[], fdb: FdbJson[]): VniTable {
  const t: VniTable = { ifindex, neigh: new Map(), fdb: new Map(), flood: new Set() }
  for (const n of neighs) if (n.lladdr) t.neigh.set(n.dst, n.lladdr)
  for (const f of fdb) {
    if (!f.dst || !f.flags?.includes('self')) continue
    if (f.mac === ZERO_MAC) t.flood.add(f.dst)
    else t.fdb.set(f.mac, [...(t.fdb.get(f.mac) ?? []), f.dst])
  }
  return t
}

/** A delete of something already gone is what was asked for. */
const gone = (e: unknown) =>
  e instanceof NetlinkError && (e.errno === Errno.ENOENT || e.errno === Errno.ENODEV)

export class RemoteTables {
  private tables = new Map<number, VniTable>()
  /** Networks whose vxlan device this process just created: known empty, nothing to read. */
  private fresh = new Set<number>()
  private sock?: RtnlSocket

  /** The datapath's one rtnetlink socket in the host netns (opened on first use). */
  rtnl(): RtnlSocket {
    return (this.sock ??= RtnlSocket.open())
  }

  close(): void {
    this.sock?.close()
    this.sock = undefined
  }

  /** The device was (re)created empty by this process. */
  created(vni: number): void {
    this.forget(vni)
    this.fresh.add(vni)
  }

  forget(vni: number): void {
    this.tables.delete(vni)
    this.fresh.delete(vni)
  }

  forgetAll(): void {
    for (const vni of [...this.tables.keys(), ...this.fresh]) this.forget(vni)
  }

  /** Take a full kernel read (synchronous, so no change of ours ran meanwhile) as the tables. */
  seed(view: KernelView): void {
    const nets = networksOf(view)
    for (const vni of [...this.tables.keys()]) if (!nets.has(vni)) this.forget(vni)
    for (const [vni, { vxlan }] of nets) {
      const dev = vxlanName(vni)
      this.tables.set(
        vni,
        tableFrom(
          vxlan.ifindex,
          view.neighs.filter((n) => n.dev === dev),
          view.fdb.filter((f) => f.ifname === dev),
        ),
      )
      this.fresh.delete(vni)
    }
  }

  private table(vni: number): VniTable {
    const known = this.tables.get(vni)
    if (known) return known
    const dev = vxlanName(vni)
    if (this.fresh.has(vni)) {
      const link = this.rtnl().getLink(dev)
      if (link) {
        const t = tableFrom(link.ifindex, [], [])
        this.tables.set(vni, t)
        return t
      }
    } else {
      // not read yet (or dropped after a failure): read the kernel, all of it in one go
      this.seed(dumpKernel(this.rtnl()))
      const t = this.tables.get(vni)
      if (t) return t
    }
    throw new NetlinkError(
      `read vxlan device ${dev}`,
      Errno.ENODEV,
      `network ${vni} has no vxlan device: upsert the network again`,
    )
  }

  /** Send one request; a failure drops the table (read again next time) unless `missingOk`. */
  private send(vni: number, op: string, m: NetlinkMessage, missingOk = false): void {
    try {
      this.rtnl().request(op, m)
    } catch (e) {
      if (missingOk && gone(e)) return
      this.forget(vni)
      throw e instanceof NetlinkError ? e.within(`network ${vni}`) : e
    }
  }

  /** Remote endpoint `ip` (MAC `mac`) is behind `vtep`. */
  async upsert(vni: number, ip: string, mac: string, vtep: string): Promise<void> {
    const t = this.table(vni)
    const old = t.neigh.get(ip)
    // a changed MAC leaves its old FDB entry behind unless another address still uses it
    if (old && old !== mac && ![...t.neigh].some(([i, m]) => i !== ip && m === old)) {
      this.send(vni, `bridge fdb del ${old} self`, fdbDeleteMessage(t.ifindex, old), true)
      t.fdb.delete(old)
    }
    const cur = t.fdb.get(mac) ?? []
    if (cur.length > 1) {
      // replace sets only the first destination: start over with one
      this.send(vni, `bridge fdb del ${mac} self`, fdbDeleteMessage(t.ifindex, mac), true)
    }
    this.send(
      vni,
      `bridge fdb replace ${mac} dst ${vtep} self permanent`,
      fdbAddMessage(t.ifindex, mac, vtep, 'replace'),
    )
    t.fdb.set(mac, [vtep])
    this.send(
      vni,
      `ip neigh replace ${ip} lladdr ${mac} nud permanent`,
      neighReplaceMessage(t.ifindex, ip, mac),
    )
    t.neigh.set(ip, mac)
  }

  /** Remote endpoint `ip` is gone; its MAC's FDB entries go with it unless another address uses the MAC. */
  async remove(vni: number, ip: string): Promise<void> {
    let t: VniTable
    try {
      t = this.table(vni)
    } catch (e) {
      if (gone(e)) return // no vxlan device: nothing of the network left to remove
      throw e
    }
    const mac = t.neigh.get(ip)
    if (!mac) return
    this.send(vni, `ip neigh del ${ip}`, neighDeleteMessage(t.ifindex, ip), true)
    t.neigh.delete(ip)
    if ([...t.neigh.values()].includes(mac)) return
    this.send(vni, `bridge fdb del ${mac} self`, fdbDeleteMessage(t.ifindex, mac), true)
    t.fdb.delete(mac)
    // and what the bridge learned of that MAC on the vxlan port: should the address come back
    // as a local endpoint of this host, the stale entry would drop frames for it
    this.send(
      vni,
      `bridge fdb del ${mac} master`,
      fdbDeleteMessage(t.ifindex, mac, { of: 'master' }),
      true,
    )
  }

  /** The flood list becomes `want` (VTEPs). */
  async setFlood(vni: number, want: Set<string>): Promise<void> {
    const t = this.table(vni)
    for (const v of want) {
      this.send(
        vni,
        `bridge fdb append ${ZERO_MAC} dst ${v} self permanent`,
        fdbAddMessage(t.ifindex, ZERO_MAC, v, 'append'),
      )
      t.flood.add(v)
    }
    for (const v of [...t.flood]) {
      if (want.has(v)) continue
      this.send(
        vni,
        `bridge fdb del ${ZERO_MAC} dst ${v} self`,
        fdbDeleteMessage(t.ifindex, ZERO_MAC, { vtep: v }),
        true,
      )
      t.flood.delete(v)
    }
  }
}
