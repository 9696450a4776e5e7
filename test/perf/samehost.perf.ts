// Same-host container-to-container TCP: bpf vs kernel datapath, with the counters that tell
// drops from reordering. Not part of `bun test`:
//
//   ./node_modules/.bin/bun run test/perf/samehost.perf.ts [--rounds 3] [--seconds 5] [--modes bpf,kernel]
//        [--variant name=obj.o ...] [--rps HEXMASK [--rfs]]
//
// One topology, one host per mode (bpf datapath, kernel datapath, and per variant a bpf datapath
// whose programs were swapped for obj.o's by swap.ts), two containers each on one network.
// --rps writes rps_cpus on every host-side endpoint veth (via `ip netns exec`, which remounts
// /sys for that one command); --rfs also sets rps_flow_cnt and the global
// net.core.rps_sock_flow_entries (restored at the end). Per run: iperf3 single stream
// (client taskset -c 0, server -c 1, as bench/), nstat deltas in both containers, and for bpf
// modes the datapath's counters (local switched, drops). Findings: docs/PERF-NOTES.md.
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { PIN_ROOT } from '../../src/datapath/bpf/datapath.ts'
import { hostIfnameFor, macFromIp } from '../../src/net/index.ts'
import type { NetworkSpec } from '../../src/datapath/types.ts'
import { createTopology, run, runIn, spawnIn, waitFor, type NsProcess } from '../harness/index.ts'
import { startDriver, type DriverHandle } from '../datapath/driver-client.ts'

const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    modes: { type: 'string', default: 'bpf,kernel' },
    // name=obj.o: another bpf mode whose programs are swapped for obj.o's (test/perf/swap.ts)
    variant: { type: 'string', multiple: true, default: [] },
    // hex CPU mask written to rps_cpus of every host-side endpoint veth (experiment)
    rps: { type: 'string' },
    // with --rps: also RFS (rps_flow_cnt per host veth; net.core.rps_sock_flow_entries, restored after)
    rfs: { type: 'boolean', default: false },
  },
})
const SWAP = join(import.meta.dir, 'swap.ts')
const N: NetworkSpec = {
  id: 'b'.repeat(64),
  vni: 4343,
  subnet: '10.0.3.0/24',
  gateway: '10.0.3.1',
  mtu: 1450,
}
const COUNTERS = [
  'TcpRetransSegs',
  'TcpExtTCPOFOQueue',
  'TcpExtTCPSACKReorder',
  'TcpExtTCPRcvQDrop',
  'TcpExtTCPOFODrop',
  'TcpExtTCPBacklogDrop',
  'TcpExtPruneCalled',
  'TcpExtTCPRcvCollapsed',
  'IpInDiscards',
  'TcpInErrs',
  'TcpExtTCPLossProbes',
  'TcpExtTCPSpuriousRtxHostQueues',
  'TcpExtTCPDSACKRecv',
  'TcpExtTCPDSACKOldSent',
  'TcpExtTCPFastRetrans',
  'TcpExtTCPTimeouts',
]

async function nstat(ns: string): Promise<Record<string, number>> {
  const r = await runIn(ns, ['nstat', '-az', '--json'])
  const j = JSON.parse(r.stdout) as { kernel: Record<string, number> }
  return j.kernel
}

const modes = args.modes!.split(',')
const variants = new Map(args.variant!.map((v) => v.split('=') as [string, string]))
for (const v of variants.keys()) modes.push(v)
const sockFlowWas = (await run(['sysctl', '-n', 'net.core.rps_sock_flow_entries'])).stdout.trim()
if (args.rfs) await run(['sysctl', '-w', 'net.core.rps_sock_flow_entries=32768'])
const topo = await createTopology({ hosts: modes.length })
const drivers: DriverHandle[] = []
const servers: NsProcess[] = []
try {
  const setups: { mode: string; client: string; server: string; ip: string; d: DriverHandle }[] = []
  for (const [h, mode] of modes.entries()) {
    const host = topo.hosts[h]!
    const d = startDriver(
      host.ns,
      variants.has(mode) ? 'bpf' : (mode as 'bpf' | 'kernel'),
      host.node,
      host.underlay.ip,
    )
    drivers.push(d)
    topo.track(() => d.stop(2000))
    await d.call('start')
    await d.call('upsertNetwork', [N])
    const obj = variants.get(mode)
    const ips = ['10.0.3.2', '10.0.3.3']
    const nss: string[] = []
    for (const [i, ip] of ips.entries()) {
      const c = await topo.addContainer(h)
      nss.push(c.ns)
      const id = Buffer.from(`${i}${mode}`.padEnd(32, '0')).toString('hex')
      await d.call('attachEndpoint', [
        {
          id,
          vni: N.vni,
          ip,
          mac: macFromIp(ip),
          sandbox: c.ns,
          ifname: 'eth0',
          hostIfname: hostIfnameFor(id),
        },
      ])
    }
    if (obj) {
      const r = await run([process.execPath, 'run', SWAP, join(PIN_ROOT, host.node), obj])
      if (r.code !== 0) throw new Error(`swap ${mode}: ${r.stderr}`)
    }
    if (args.rps) {
      const links = JSON.parse((await runIn(host.ns, ['ip', '-j', 'link'])).stdout) as {
        ifname: string
      }[]
      for (const l of links.filter((x) => x.ifname.startsWith('wf') && x.ifname !== 'wfgro')) {
        const q = `/sys/class/net/${l.ifname}/queues/rx-0`
        const rfs = args.rfs ? ` && echo 4096 > ${q}/rps_flow_cnt` : ''
        const r = await run([
          'ip',
          'netns',
          'exec',
          host.ns,
          'sh',
          '-c',
          `echo ${args.rps} > ${q}/rps_cpus${rfs}`,
        ])
        if (r.code !== 0) throw new Error(`rps on ${l.ifname}: ${r.stderr}`)
      }
    }
    const srv = spawnIn(nss[1]!, ['taskset', '-c', '1', 'iperf3', '-s', '-B', ips[1]!])
    servers.push(srv)
    topo.track(() => srv.stop())
    await waitFor(async () => (await runIn(nss[1]!, ['ss', '-ltn'])).stdout.includes(':5201'), {
      what: 'iperf3 server',
    })
    setups.push({ mode, client: nss[0]!, server: nss[1]!, ip: ips[1]!, d })
  }
  for (let round = 0; round < Number(args.rounds); round++) {
    for (const s of setups) {
      const [c0, s0] = [await nstat(s.client), await nstat(s.server)]
      const st0 = s.mode !== 'kernel' ? await s.d.call<unknown[]>('stats') : []
      const r = await runIn(s.client, [
        'taskset',
        '-c',
        '0',
        'iperf3',
        '-c',
        s.ip,
        '-t',
        args.seconds!,
        '-J',
      ])
      const j = JSON.parse(r.stdout)
      if (!j.end?.sum_received)
        throw new Error(`${s.mode}: iperf3: ${r.stdout.slice(-400)} ${r.stderr}`)
      const [c1, s1] = [await nstat(s.client), await nstat(s.server)]
      const st1 = s.mode !== 'kernel' ? await s.d.call<unknown[]>('stats') : []
      const delta = (a: Record<string, number>, b: Record<string, number>) =>
        Object.fromEntries(
          COUNTERS.map((k) => [k, (b[k] ?? 0) - (a[k] ?? 0)]).filter(([, v]) => v !== 0),
        )
      console.log(
        JSON.stringify({
          round,
          mode: s.mode,
          gbps: +(j.end.sum_received.bits_per_second / 1e9).toFixed(2),
          retrans: j.end.sum_sent.retransmits,
          client: delta(c0, c1),
          server: delta(s0, s1),
          ...(s.mode !== 'kernel' ? { stats0: st0, stats1: st1 } : {}),
        }),
      )
    }
  }
} finally {
  for (const d of drivers) await d.call('teardown').catch(() => {})
  await topo.destroy()
  if (args.rfs) await run(['sysctl', '-w', `net.core.rps_sock_flow_entries=${sockFlowWas}`])
}
