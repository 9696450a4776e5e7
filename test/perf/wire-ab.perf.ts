// A/B harness for the datapath on a "wire" underlay (1500-byte frames, no TSO/GSO on the
// underlay veths, GRO on the receiving host ends). Not part of `bun test`:
//
//   ./node_modules/.bin/bun run test/perf/wire-ab.perf.ts [--rounds 3] [--modes routed,kernel,bpf]
//        [--variant name=path/to/obj.o ...] [--udp] [--veth] [--seconds 5]
//
// One topology per mode (2 hosts, one container each), all built first and kept up, then
// rounds that alternate the modes (order rotated per round) so background load from other
// engineers' tests spreads over all modes. Per run: iperf3 single TCP stream, client pinned
// to CPU 0 and server to CPU 1 (taskset, identical in every mode); optional 64-byte UDP
// (received pps). For bpf modes: kernel.bpf_stats_enabled run_time_ns/run_cnt per program
// (enabled only around bpf runs, restored after). TcpRetransSegs from nstat in the client ns.
// A variant is the bpf datapath (started through driver-client.ts) whose programs were then
// swapped for another object's by test/perf/swap.ts (live restore, same maps).
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { hostIfnameFor, macFromIp } from '../../src/net/index.ts'
import type { NetworkSpec } from '../../src/datapath/types.ts'
import {
  createTopology,
  mustRunIn,
  ping,
  run,
  runIn,
  spawnIn,
  waitFor,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'
import { startDriver, type DriverHandle } from '../datapath/driver-client.ts'

const { values: args } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    rounds: { type: 'string', default: '3' },
    modes: { type: 'string', default: 'routed,kernel,bpf' },
    variant: { type: 'string', multiple: true, default: [] },
    udp: { type: 'boolean', default: false },
    veth: { type: 'boolean', default: false },
    seconds: { type: 'string', default: '5' },
    'no-stats': { type: 'boolean', default: false },
    // underlay bridge without br_netfilter hooks, as a real wire (call-iptables=0 in its ns)
    'no-brnf': { type: 'boolean', default: false },
    perf: { type: 'string' }, // directory: perf record -a -g during each mode's first TCP run
  },
})
const ROUNDS = Number(args.rounds)
const SECONDS = Number(args.seconds)
const WIRE = !args.veth
const SWAP = join(import.meta.dir, 'swap.ts')
const N: NetworkSpec = {
  id: 'a'.repeat(64),
  vni: 4242,
  subnet: '10.0.1.0/24',
  gateway: '10.0.1.1',
  mtu: 1450,
}

interface Mode {
  name: string
  kind: 'routed' | 'kernel' | 'bpf'
  object?: string
  topo?: Topology
  drivers: DriverHandle[]
  client: string
  serverNs: string
  serverIp: string
  servers: NsProcess[]
  results: { tcp: number[]; retrans: number[]; udpPps: number[]; ns: Record<string, number[]> }
}

const modes: Mode[] = []
for (const m of args.modes!.split(',').filter(Boolean)) {
  if (m !== 'routed' && m !== 'kernel' && m !== 'bpf') throw new Error(`unknown mode ${m}`)
  modes.push(newMode(m, m))
}
for (const v of args.variant!) {
  const [name, path] = v.split('=')
  if (!name || !path) throw new Error('--variant name=path.o')
  modes.push(newMode(name, 'bpf', path))
}

function newMode(name: string, kind: Mode['kind'], object?: string): Mode {
  return {
    name,
    kind,
    object,
    drivers: [],
    client: '',
    serverNs: '',
    serverIp: '',
    servers: [],
    results: { tcp: [], retrans: [], udpPps: [], ns: {} },
  }
}

const median = (xs: number[]) => {
  if (!xs.length) return NaN
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')

async function setup(m: Mode): Promise<void> {
  const topo = await createTopology({ hosts: 2, containersPerHost: 1, wire: WIRE })
  m.topo = topo
  if (args['no-brnf']) {
    for (const k of ['iptables', 'ip6tables', 'arptables']) {
      await mustRunIn(topo.underlayNs, ['sysctl', '-qw', `net.bridge.bridge-nf-call-${k}=0`])
    }
  }
  const [h1, h2] = topo.hosts as [Topology['hosts'][0], Topology['hosts'][0]]
  m.client = h1.containers[0]!.ns
  m.serverNs = h2.containers[0]!.ns
  if (m.kind === 'routed') {
    const attach = async (hostNs: string, ns: string, n: number) => {
      await mustRunIn(hostNs, [
        'ip',
        'link',
        'add',
        'rt0',
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        ns,
      ])
      await mustRunIn(hostNs, ['ip', 'addr', 'add', `10.0.${n}.1/24`, 'dev', 'rt0'])
      await mustRunIn(hostNs, ['ip', 'link', 'set', 'rt0', 'up'])
      await mustRunIn(ns, ['ip', 'addr', 'add', `10.0.${n}.2/24`, 'dev', 'eth0'])
      await mustRunIn(ns, ['ip', 'link', 'set', 'eth0', 'up'])
      await mustRunIn(ns, ['ip', 'route', 'add', '10.0.0.0/16', 'via', `10.0.${n}.1`])
      await mustRunIn(hostNs, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    }
    await attach(h1.ns, m.client, 1)
    await attach(h2.ns, m.serverNs, 2)
    await mustRunIn(h1.ns, [
      'ip',
      'route',
      'add',
      '10.0.2.0/24',
      'via',
      h2.underlay.ip,
      'dev',
      'ul0',
    ])
    await mustRunIn(h2.ns, [
      'ip',
      'route',
      'add',
      '10.0.1.0/24',
      'via',
      h1.underlay.ip,
      'dev',
      'ul0',
    ])
    m.serverIp = '10.0.2.2'
  } else {
    const ips = ['10.0.1.2', '10.0.1.3']
    for (const [i, h] of [h1, h2].entries()) {
      const d = startDriver(h.ns, m.kind, h.node, h.underlay.ip)
      m.drivers.push(d)
      topo.track(async () => {
        await d.call('teardown').catch(() => {})
        await d.stop(3000)
      })
      await d.call('start')
      await d.call('upsertNetwork', [N])
      const id = (i + 1).toString().repeat(64)
      await d.call('attachEndpoint', [
        {
          id,
          vni: N.vni,
          ip: ips[i],
          mac: macFromIp(ips[i]!),
          sandbox: h.containers[0]!.ns,
          ifname: 'eth0',
          hostIfname: hostIfnameFor(id),
        },
      ])
    }
    for (const [i, d] of m.drivers.entries()) {
      const other = 1 - i
      await d.call('setMembers', [N.vni, [topo.hosts[other]!.underlay.ip]])
      await d.call('upsertRemoteEndpoint', [
        {
          vni: N.vni,
          ip: ips[other],
          mac: macFromIp(ips[other]!),
          vtep: topo.hosts[other]!.underlay.ip,
        },
      ])
    }
    m.serverIp = ips[1]!
    if (m.object) {
      for (const h of topo.hosts) {
        const r = await run([process.execPath, 'run', SWAP, `/sys/fs/bpf/weft/${h.node}`, m.object])
        if (r.code !== 0) throw new Error(`swap ${m.object} on ${h.node}: ${r.stderr}`)
      }
      // variants with an outer-neighbour map (vx_nbr[vtep] = {dmac, smac}): fill it
      const macs = await Promise.all(
        topo.hosts.map(
          async (h) =>
            JSON.parse((await mustRunIn(h.ns, ['ip', '-j', 'link', 'show', 'ul0'])).stdout)[0]
              .address as string,
        ),
      )
      const hexb = (s: string) => s.split(/[:.]/).map((x) => x.padStart(2, '0'))
      for (const [i, h] of topo.hosts.entries()) {
        const pin = `/sys/fs/bpf/weft/${h.node}/vx_nbr`
        if (!(await run(['test', '-e', pin])).code) {
          const o = 1 - i
          await run([
            'bpftool',
            'map',
            'update',
            'pinned',
            pin,
            'key',
            ...hexb(topo.hosts[o]!.underlay.ip).map((x) => String(Number(x))),
            'value',
            'hex',
            ...hexb(macs[o]!),
            ...hexb(macs[i]!),
            '00',
            '00',
            '00',
            '00',
          ]).then((r) => {
            if (r.code) throw new Error(`fill vx_nbr: ${r.stderr}`)
          })
        }
      }
    }
  }
  await waitFor(
    async () => (await ping(m.client, m.serverIp, { count: 1, timeoutMs: 1000 })).received === 1,
    {
      what: `${m.name}: ping ${m.serverIp}`,
      timeoutMs: 15_000,
    },
  )
  const srv = spawnIn(m.serverNs, ['taskset', '-c', '1', 'iperf3', '-s', '-B', m.serverIp])
  m.servers.push(srv)
  await waitFor(
    async () => (await runIn(m.serverNs, ['ss', '-Hltn', 'sport = :5201'])).stdout.includes('5201'),
    {
      what: `${m.name}: iperf3 server`,
    },
  )
}

/**
 * prog name -> id of the bpf programs of a mode (both hosts): the programs that use a host's
 * pinned vx_eps map (endpoint programs are clsact filters, not pinned links). After a swap the
 * newest program of a name (highest id) is the one attached.
 */
async function progIds(m: Mode): Promise<Record<string, number>> {
  const out: Record<string, number> = {}
  const progs = JSON.parse((await run(['bpftool', '-j', 'prog', 'show'])).stdout) as {
    id: number
    name: string
    map_ids?: number[]
  }[]
  for (const [i, h] of m.topo!.hosts.entries()) {
    const r = await run([
      'bpftool',
      '-j',
      'map',
      'show',
      'pinned',
      `/sys/fs/bpf/weft/${h.node}/vx_eps`,
    ])
    if (r.code !== 0) throw new Error(`bpftool map show (${h.node} vx_eps): ${r.stderr}`)
    const mapId = (JSON.parse(r.stdout) as { id: number }).id
    for (const p of progs) {
      if (!p.map_ids?.includes(mapId)) continue
      const what =
        p.name === 'vx_from_ul'
          ? 'decap(from_ul)'
          : p.name === 'vx_from_ep'
            ? 'encap(from_ep)'
            : undefined
      if (!what) continue
      const k = `h${i + 1}.${what}`
      out[k] = Math.max(out[k] ?? 0, p.id)
    }
  }
  if (Object.keys(out).length === 0)
    throw new Error('no vx_from_ep/vx_from_ul program uses the pinned maps')
  return out
}

async function progStats(
  ids: Record<string, number>,
): Promise<Record<string, { ns: number; cnt: number }>> {
  const out: Record<string, { ns: number; cnt: number }> = {}
  for (const [k, id] of Object.entries(ids)) {
    const r = await run(['bpftool', '-j', 'prog', 'show', 'id', String(id)])
    const j = JSON.parse(r.stdout)
    out[k] = { ns: j.run_time_ns ?? 0, cnt: j.run_cnt ?? 0 }
  }
  return out
}

async function retrans(ns: string): Promise<number> {
  const r = await runIn(ns, ['nstat', '-asz', 'TcpRetransSegs'])
  const line = r.stdout.split('\n').find((l) => l.startsWith('TcpRetransSegs'))
  return line ? Number(line.split(/\s+/)[1]) : NaN
}

async function setStatsSysctl(v: string): Promise<void> {
  await run(['sysctl', '-qw', `kernel.bpf_stats_enabled=${v}`])
}

async function tcpRun(m: Mode): Promise<void> {
  const stats = m.kind === 'bpf' && !args['no-stats']
  const ids = stats ? await progIds(m) : {}
  if (stats) await setStatsSysctl('1')
  const before = stats ? await progStats(ids) : {}
  const r0 = await retrans(m.client)
  const rec =
    args.perf && m.results.tcp.length === 0
      ? Bun.spawn(
          [
            'perf',
            'record',
            '-q',
            '-a',
            '-g',
            '-e',
            'cpu-clock',
            '-o',
            join(args.perf, `${m.name}.data`),
            '--',
            'sleep',
            String(SECONDS),
          ],
          { stdout: 'ignore', stderr: 'ignore' },
        )
      : undefined
  const r = await runIn(m.client, [
    'taskset',
    '-c',
    '0',
    'iperf3',
    '-c',
    m.serverIp,
    '-t',
    String(SECONDS),
    '-J',
  ])
  const r1 = await retrans(m.client)
  await rec?.exited
  const after = stats ? await progStats(ids) : {}
  if (stats) await setStatsSysctl(origStats)
  if (r.code !== 0) throw new Error(`${m.name}: iperf3: ${r.stdout.slice(-500)} ${r.stderr}`)
  const j = JSON.parse(r.stdout)
  const gbps = j.end.sum_received.bits_per_second / 1e9
  m.results.tcp.push(gbps)
  m.results.retrans.push(r1 - r0)
  let line = `  ${m.name.padEnd(10)} tcp ${gbps.toFixed(2)} Gbit/s  retrans ${r1 - r0}`
  for (const k of Object.keys(ids)) {
    const cnt = after[k]!.cnt - before[k]!.cnt
    const perPkt = cnt ? (after[k]!.ns - before[k]!.ns) / cnt : NaN
    ;(m.results.ns[k] ??= []).push(perPkt)
    ;(m.results.ns[k + ' runs'] ??= []).push(cnt)
    line += `  ${k} ${perPkt.toFixed(0)}ns x${cnt}`
  }
  console.log(line + `  [load ${loadavg()}]`)
}

async function udpRun(m: Mode): Promise<void> {
  const r = await runIn(m.client, [
    'taskset',
    '-c',
    '0',
    'iperf3',
    '-c',
    m.serverIp,
    '-u',
    '-b',
    '0',
    '-l',
    '64',
    '-t',
    String(Math.min(SECONDS, 3)),
    '-J',
  ])
  if (r.code !== 0) throw new Error(`${m.name}: iperf3 udp: ${r.stdout.slice(-500)} ${r.stderr}`)
  const j = JSON.parse(r.stdout)
  const s = j.end.sum_received ?? j.end.sum
  const pkts = (s.packets ?? 0) - (s.lost_packets ?? 0)
  const pps = pkts / s.seconds / 1000
  m.results.udpPps.push(pps)
  console.log(
    `  ${m.name.padEnd(10)} udp64 ${pps.toFixed(0)} kpps received (lost ${s.lost_percent?.toFixed(1)}%)`,
  )
}

let origStats = '0'

async function main(): Promise<void> {
  origStats = (await run(['sysctl', '-n', 'kernel.bpf_stats_enabled'])).stdout.trim() || '0'
  console.log(
    `wire-ab: ${WIRE ? 'wire' : 'veth'} underlay, ${ROUNDS} rounds x ${SECONDS}s, modes ${modes.map((m) => m.name).join(', ')}`,
  )
  console.log(`load before setup: ${loadavg()}`)
  try {
    for (const m of modes) await setup(m)
    for (let round = 0; round < ROUNDS; round++) {
      console.log(`round ${round + 1} [load ${loadavg()}]`)
      const order = modes.map((_, i) => modes[(i + round) % modes.length]!)
      for (const m of order) await tcpRun(m)
      if (args.udp) for (const m of order) await udpRun(m)
    }
  } finally {
    await setStatsSysctl(origStats)
    for (const m of modes) {
      for (const s of m.servers) await s.stop(500)
      await m.topo?.destroy().catch((e) => console.error(String(e)))
    }
  }
  console.log(`\nmedians (${ROUNDS} rounds), load after: ${loadavg()}`)
  const ref = (name: string) => modes.find((m) => m.name === name)
  const kernel = ref('kernel')
  const routed = ref('routed')
  for (const m of modes) {
    const tcp = median(m.results.tcp)
    let line = `${m.name.padEnd(10)} tcp ${tcp.toFixed(2)} Gbit/s`
    if (kernel && m !== kernel)
      line += ` (${(tcp / median(kernel.results.tcp)).toFixed(2)}x kernel)`
    if (routed && m !== routed)
      line += ` (${(tcp / median(routed.results.tcp)).toFixed(2)}x routed)`
    line += `  retrans ${median(m.results.retrans)}`
    if (kernel && m !== kernel)
      line += ` (${(median(m.results.retrans) / Math.max(1, median(kernel.results.retrans))).toFixed(2)}x kernel)`
    if (m.results.udpPps.length) {
      line += `  udp64 ${median(m.results.udpPps).toFixed(0)} kpps`
      if (kernel && m !== kernel && kernel.results.udpPps.length) {
        line += ` (${(median(m.results.udpPps) / median(kernel.results.udpPps)).toFixed(2)}x kernel)`
      }
    }
    console.log(line)
    for (const [k, xs] of Object.entries(m.results.ns))
      console.log(
        `    ${k.padEnd(22)} ${median(xs).toFixed(0)}${k.endsWith('runs') ? '' : ' ns/run'}`,
      )
  }
}

process.on('SIGINT', () => {
  void (async () => {
    await setStatsSysctl(origStats)
    for (const m of modes) {
      for (const s of m.servers) await s.stop(500)
      await m.topo?.destroy().catch(() => {})
    }
    process.exit(130)
  })()
})
await main()
