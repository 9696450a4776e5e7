// The kernel's floor under the control-plane converge: the kernel work E endpoints over M
// networks on 3 hosts need, done with plain tools in batches and no weft agent, so the
// agents' figure (bench/run.ts --only-control-plane) can be read against what the kernel
// alone costs here. Per endpoint, as the bpf datapath does it (src/net/endpoint.ts,
// src/egress/routes.ts, src/datapath/bpf/datapath.ts):
//   host netns:     veth pair, the peer made in the sandbox with its MAC and MTU; host end
//                   addrgenmode none, alias, up; /32 route and permanent neighbour
//   sandbox netns:  addrgenmode none, address, up, default route via the gateway
//   tc:             ingress qdisc (--clsact: clsact) and a direct-action BPF filter (a pinned
//                   program) on ingress
//   BPF maps:       vx_ifs and vx_eps (local) on its host, vx_eps (remote) and vx_members on
//                   every other host holding that network
// Sandboxes are named netns made as the bench makes them (ip netns add, lo up), timed apart:
// the bench makes them before its converge clock starts. Same assignment as the bench
// (bench/lib/control-plane.ts assignment()). Prints wall and CPU-s (the tools' own CPU, and
// the whole machine's busy time from /proc/stat, which includes kworkers and RCU) per phase.
//
//   flock /tmp/weft-bench.lock bun run bench/converge-floor.ts [--endpoints 3000] [--networks 300] [--shared-block] [--clsact]
//
// --shared-block: each host's veths bind their clsact qdisc to one shared ingress block and one
// egress block, and the filter is added once per host to the block: does a qdisc per veth cost
// less when the kernel does not track a new block per qdisc (flow_indr_dev_setup_offload)?
//
// Everything lives in namespaces and a pin directory of this run's random prefix, removed at
// the end (also on failure or Ctrl-C); needs root and bpftool/tc/ip.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { assignment } from './lib/control-plane.ts'

const HOSTS = 3
const OVERLAY_MTU = 1450
const HOST_MTU = 1500
const PROG_OBJ = join(import.meta.dir, '..', 'build', 'bpf', 'count.o')

const { values: args } = parseArgs({
  options: {
    endpoints: { type: 'string' },
    networks: { type: 'string' },
    // every host veth's clsact on one shared ingress (and egress) block with the filter once
    'shared-block': { type: 'boolean' },
    // clsact on every veth, as the agents did before 2026-12-02 (now an ingress qdisc: one tc
    // block per veth instead of two, see src/net/tc-message.ts hookQdiscMessage)
    clsact: { type: 'boolean' },
  },
  strict: true,
})
const endpoints = Number(args.endpoints ?? 3000)
const networks = Number(args.networks ?? 300)
if (!Number.isInteger(endpoints) || endpoints < 1 || endpoints > 60000)
  throw new Error(`--endpoints ${args.endpoints}: give a whole number from 1 to 60000`)
if (!Number.isInteger(networks) || networks < 1 || networks > 4000)
  throw new Error(`--networks ${args.networks}: give a whole number from 1 to 4000`)
if (process.getuid?.() !== 0)
  throw new Error('converge-floor builds namespaces and BPF maps: run it as root')

const prefix = 'fl' + Math.random().toString(16).slice(2, 6)
const pinDir = `/sys/fs/bpf/${prefix}`
const work = mkdtempSync(join(tmpdir(), `${prefix}-`))
const hostNs = Array.from({ length: HOSTS }, (_, h) => `${prefix}-h${h + 1}`)
const made: string[] = []

/** CPU the tools used (reaped children of this process) and the machine's busy time, in s. */
function cpuNow(): { tools: number; machine: number } {
  const stat = readFileSync('/proc/self/stat', 'utf8')
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const tools = (Number(f[13]) + Number(f[14])) / 100
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1)
  const n = cpu.map(Number)
  const idle = n[3]! + n[4]!
  const total = n.slice(0, 8).reduce((a, b) => a + b, 0)
  return { tools, machine: (total - idle) / 100 }
}

let spawns = 0
async function run(argv: string[]): Promise<string> {
  spawns++
  const p = Bun.spawn(argv, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  const [out, err, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ])
  if (code !== 0) throw new Error(`${argv.join(' ')}: exit ${code}: ${err.trim().slice(0, 500)}`)
  return out
}

/** One batch file per call: `ip|tc [pre...] -batch file`, `bpftool batch file file`. */
let batchNo = 0
async function batch(pre: string[], lines: string[]): Promise<void> {
  if (!lines.length) return
  const file = join(work, `b${batchNo++}`)
  writeFileSync(file, lines.join('\n') + '\n')
  await run(pre[0] === 'bpftool' ? ['bpftool', 'batch', 'file', file] : [...pre, '-batch', file])
}

/** Run `fn` over items with `width` in flight (the bench has 16 sandboxes in flight per host). */
async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!)
    }),
  )
}

const bytesLE = (n: number) => [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24]
const bytesBE = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]
const ipOf = (net: number, host: number) => [10, 1 + (net >> 8), net & 255, host]
const macOf = (p: number) => [0x02, 0x42, 0x0a, (p >> 16) & 255, (p >> 8) & 255, p & 255]
const hex = (b: number[]) => b.map((x) => x.toString(16).padStart(2, '0')).join(' ')
const macStr = (b: number[]) => b.map((x) => x.toString(16).padStart(2, '0')).join(':')

interface Phase {
  name: string
  wall: number
  tools: number
  machine: number
}
const phases: Phase[] = []
async function phase(name: string, fn: () => Promise<void>): Promise<void> {
  const c0 = cpuNow()
  const t0 = performance.now()
  await fn()
  const c1 = cpuNow()
  const p = {
    name,
    wall: (performance.now() - t0) / 1000,
    tools: c1.tools - c0.tools,
    machine: c1.machine - c0.machine,
  }
  phases.push(p)
  console.log(
    `${name.padEnd(44)} ${p.wall.toFixed(2).padStart(6)} s wall  ${p.tools.toFixed(2).padStart(6)} CPU-s tools  ${p.machine.toFixed(2).padStart(6)} CPU-s machine`,
  )
}

async function cleanup(): Promise<void> {
  const errors: string[] = []
  for (const ns of made.reverse()) {
    try {
      await run(['ip', 'netns', 'del', ns])
    } catch (e) {
      errors.push((e as Error).message)
    }
  }
  rmSync(pinDir, { recursive: true, force: true })
  rmSync(work, { recursive: true, force: true })
  if (errors.length) throw new Error(`cleanup of ${prefix}:\n  ${errors.join('\n  ')}`)
}
process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)))

const { sandboxes, pairs } = assignment(endpoints, networks, HOSTS)
// the endpoint's index in its sandbox (ethN) and in the run (its address's host part)
const slot = pairs.map((q, p) => ({
  ...q,
  p,
  eth: p - pairs.findIndex((x) => x.sandbox === q.sandbox),
}))
const ordinal = new Map<number, number>() // per network: next host part
const ipHost = slot.map((q) => {
  const n = (ordinal.get(q.network) ?? 1) + 1 // .1 is the gateway
  ordinal.set(q.network, n)
  if (n > 254) throw new Error(`network ${q.network} has more than 253 endpoints: raise --networks`)
  return n
})
const sbxName = (s: number) => `${hostNs[s % HOSTS]}c${Math.floor(s / HOSTS) + 1}`
const vethName = (p: number) => `wf${p.toString(36)}`

try {
  console.log(
    `${prefix}: ${endpoints} endpoints / ${networks} networks / ${sandboxes} sandboxes on ${HOSTS} hosts (netns on one kernel)`,
  )
  const load0 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  await phase('hosts: netns, pinned program, maps', async () => {
    for (const ns of hostNs) {
      await run(['ip', 'netns', 'add', ns])
      made.push(ns)
      await run(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    }
    mkdirSync(pinDir)
    await run(['bpftool', 'prog', 'load', PROG_OBJ, `${pinDir}/prog`, 'type', 'classifier'])
    const maps: string[] = []
    for (let h = 0; h < HOSTS; h++) {
      // sizes and flags of bpf/maps.h (BPF_F_NO_PREALLOC = 1)
      maps.push(
        `map create ${pinDir}/eps${h} type hash key 8 value 16 entries 65536 name vx_eps flags 1`,
      )
      maps.push(
        `map create ${pinDir}/ifs${h} type hash key 4 value 16 entries 4096 name vx_ifs flags 1`,
      )
      maps.push(
        `map create ${pinDir}/mem${h} type hash key 8 value 4 entries 65536 name vx_members flags 1`,
      )
    }
    await batch(['bpftool'], maps)
  })

  await phase('sandboxes: netns add, lo up (before the clock)', async () => {
    const names = Array.from({ length: sandboxes }, (_, s) => sbxName(s))
    await batch(
      ['ip'],
      names.map((n) => `netns add ${n}`),
    )
    made.push(...names)
    await pool(names, 16, (n) => run(['ip', '-n', n, 'link', 'set', 'lo', 'up']).then(() => {}))
  })

  const converge0 = phases.length
  await phase('host: veth pairs, alias, up, /32 route, neighbour', async () => {
    for (let h = 0; h < HOSTS; h++) {
      const lines: string[] = []
      for (const q of slot) {
        if (q.host !== h) continue
        const v = vethName(q.p)
        const ip = ipOf(q.network, ipHost[q.p]!).join('.')
        lines.push(
          `link add ${v} mtu ${HOST_MTU} type veth peer name eth${q.eth} netns ${sbxName(q.sandbox)} address ${macStr(macOf(q.p))} mtu ${OVERLAY_MTU}`,
          `link set dev ${v} addrgenmode none alias weft:${q.network}:${ip} up`,
          `route replace ${ip}/32 dev ${v} mtu ${OVERLAY_MTU}`,
          `neigh replace ${ip} lladdr ${macStr(macOf(q.p))} dev ${v} nud permanent`,
        )
      }
      await batch(['ip', '-n', hostNs[h]!], lines)
    }
  })

  await phase('sandbox: addrgenmode, address, up, default route', async () => {
    const bySandbox = new Map<number, string[]>()
    for (const q of slot) {
      const ip = ipOf(q.network, ipHost[q.p]!).join('.')
      const gw = ipOf(q.network, 1).join('.')
      const l = bySandbox.get(q.sandbox) ?? []
      l.push(
        `link set dev eth${q.eth} addrgenmode none up`,
        `addr replace ${ip}/24 dev eth${q.eth}`,
        `route replace default via ${gw} dev eth${q.eth} metric ${100 + q.eth}`,
      )
      bySandbox.set(q.sandbox, l)
    }
    await pool([...bySandbox], 16, ([s, lines]) => batch(['ip', '-n', sbxName(s)], lines))
  })

  const qdisc = args.clsact === true ? 'clsact' : 'ingress'
  await phase(`tc: ${qdisc} + bpf da filter (pinned program)`, async () => {
    for (let h = 0; h < HOSTS; h++) {
      const lines: string[] = []
      const shared = args['shared-block'] === true
      if (shared)
        lines.push(`filter replace block 1 pref 1 handle 1 bpf da object-pinned ${pinDir}/prog`)
      for (const q of slot) {
        if (q.host !== h) continue
        const v = vethName(q.p)
        if (shared) lines.unshift(`qdisc add dev ${v} ingress_block 1 egress_block 2 clsact`)
        else
          lines.push(
            `qdisc add dev ${v} ${qdisc}`,
            `filter replace dev ${v} ingress pref 1 handle 1 bpf da object-pinned ${pinDir}/prog`,
          )
      }
      // nsenter, not `tc -n`: that remounts /sys in its own mount namespace, without the bpffs
      await batch(['nsenter', `--net=/run/netns/${hostNs[h]}`, 'tc'], lines)
    }
  })

  await phase('BPF maps: ifs + eps local, eps + members remote', async () => {
    const ifindex = new Map<string, number>()
    for (let h = 0; h < HOSTS; h++) {
      const links = JSON.parse(await run(['ip', '-n', hostNs[h]!, '-j', 'link', 'show']))
      for (const l of links as { ifname: string; ifindex: number }[])
        ifindex.set(l.ifname, l.ifindex)
    }
    const netsOn = Array.from(
      { length: HOSTS },
      (_, h) => new Set(slot.filter((q) => q.host === h).map((q) => q.network)),
    )
    for (let h = 0; h < HOSTS; h++) {
      const lines: string[] = []
      const members = new Set<string>()
      for (const q of slot) {
        if (!netsOn[h]!.has(q.network)) continue
        const ip = ipOf(q.network, ipHost[q.p]!)
        const key = hex([...bytesLE(q.network + 1), ...ip])
        const mac = [...macOf(q.p), 0, 0]
        if (q.host === h) {
          const idx = ifindex.get(vethName(q.p))
          if (!idx) throw new Error(`no ifindex for ${vethName(q.p)} on ${hostNs[h]}`)
          lines.push(
            `map update pinned ${pinDir}/ifs${h} key hex ${hex(bytesLE(idx))} value hex ${hex([...bytesLE(q.network + 1), ...ip, ...mac])}`,
          )
          lines.push(
            `map update pinned ${pinDir}/eps${h} key hex ${key} value hex ${hex([...bytesLE(idx), 0, 0, 0, 0, ...mac])}`,
          )
        } else {
          const vtep = [198, 18, 0, q.host + 1]
          lines.push(
            `map update pinned ${pinDir}/eps${h} key hex ${key} value hex ${hex([0, 0, 0, 0, ...vtep, ...mac])}`,
          )
          const m = `${q.network}/${q.host}`
          if (!members.has(m)) {
            members.add(m)
            lines.push(
              `map update pinned ${pinDir}/mem${h} key hex ${hex([...bytesLE(q.network + 1), ...vtep])} value hex 01 00 00 00`,
            )
          }
        }
      }
      await batch(['bpftool'], lines)
    }
  })

  const conv = phases.slice(converge0)
  const sum = (k: 'wall' | 'tools' | 'machine') => conv.reduce((a, p) => a + p[k], 0)
  const load1 = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
  console.log(
    `floor (what the converge clock would see): ${sum('wall').toFixed(2)} s wall, ${sum('tools').toFixed(2)} CPU-s tools, ${sum('machine').toFixed(2)} CPU-s machine; ${(
      (sum('tools') / endpoints) *
      1000
    ).toFixed(2)} ms tool CPU per endpoint; ${spawns} processes; load ${load0} → ${load1}`,
  )
} finally {
  await phase('cleanup: netns del, pins', cleanup)
}
