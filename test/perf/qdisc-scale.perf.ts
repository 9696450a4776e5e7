// Scratch probe (not part of `bun test`): kernel CPU of creating a veth's tc qdisc as veths
// accumulate, per kind. Each new tc block of a veth is added to a machine-wide kernel list that is
// walked first (flow_indr_dev_setup_offload), so the cost grows with the blocks already there:
// clsact makes two per veth, ingress one, a shared block none after the first.
// Usage: bun run test/perf/qdisc-scale.perf.ts [clsact|ingress|shared] [veths=3000]
// Two namespaces of its own (removed at the end, also on failure); sys CPU of this thread per
// batch of 250 (10 ms ticks: ±40 µs per qdisc). Hold /tmp/weft-bench.lock for figures you quote.
import { closeSync, openSync, readFileSync } from 'node:fs'
import { RtnlSocket } from '../../src/net/netlink.ts'
import {
  AF_UNSPEC,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_EXCL,
  NetlinkMessage,
} from '../../src/net/netlink-message.ts'
import { withNetns } from '../../src/sys/index.ts'

const mode = process.argv[2] ?? 'clsact'
const veths = Number(process.argv[3] ?? 3000)
if (!['clsact', 'ingress', 'shared'].includes(mode) || !Number.isInteger(veths) || veths < 250)
  throw new Error('usage: qdisc-scale.perf.ts [clsact|ingress|shared] [veths >= 250]')
const BATCH = 250
const ns = `qs${process.pid}`
const ip = (args: string[]) => {
  const r = Bun.spawnSync(['ip', ...args])
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.toString()}`)
}
/** This thread's sys CPU-s (/proc/thread-self/stat stime). */
const sysSeconds = () => {
  const f = readFileSync('/proc/thread-self/stat', 'utf8')
  return Number(f.slice(f.lastIndexOf(')') + 2).split(' ')[12]) / 100
}
/** RTM_NEWQDISC at the ingress parent, handle ffff: (TCA_INGRESS/EGRESS_BLOCK 13/14 when shared). */
function qdisc(ifindex: number): NetlinkMessage {
  const t = new Uint8Array(20)
  const v = new DataView(t.buffer)
  v.setUint8(0, AF_UNSPEC)
  v.setInt32(4, ifindex, true)
  v.setUint32(8, 0xffff0000, true)
  v.setUint32(12, 0xfffffff1, true)
  const m = new NetlinkMessage(36, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, t)
  if (mode === 'ingress') return m.str(1, 'ingress')
  m.str(1, 'clsact')
  return mode === 'shared' ? m.u32(13, 7).u32(14, 8) : m
}

ip(['netns', 'add', ns])
try {
  ip(['netns', 'add', `${ns}p`])
  const s = withNetns(`/run/netns/${ns}`, () => RtnlSocket.open())
  const peerNs = openSync(`/run/netns/${ns}p`, 'r')
  try {
    let total = 0
    for (let i = 0; i < veths; i += BATCH) {
      const made: number[] = []
      for (let j = i; j < i + BATCH; j++) {
        const peer = { name: `p${j}`, netnsFd: peerNs, mac: '02:00:00:00:00:01', mtu: 1450 }
        made.push(s.createVeth({ name: `v${j}`, mtu: 1500, peer })!.ifindex)
      }
      const t0 = sysSeconds()
      for (const ifindex of made) s.request(`${mode} qdisc on ifindex ${ifindex}`, qdisc(ifindex))
      const used = sysSeconds() - t0
      total += used
      console.log(
        `${mode}: veths ${i + BATCH}: ${((used / BATCH) * 1e6).toFixed(0)} µs sys per qdisc`,
      )
    }
    console.log(`${mode}: ${total.toFixed(2)} s sys for ${veths} qdiscs`)
  } finally {
    closeSync(peerNs)
    s.close()
  }
} finally {
  // deleting the namespace deletes its veths, and their peers with them
  ip(['netns', 'del', ns])
  Bun.spawnSync(['ip', 'netns', 'del', `${ns}p`])
}
