// CPU per thread of the agents in a bench run, between two lines the run prints: the store
// host's agent runs its store on a Worker thread (named "Worker" in /proc), so its process CPU
// alone cannot say what the store costs. Reads the run's output on stdin and passes it through:
//
//   bun run test/perf/converge.perf.ts 3000 300 bpf | bun run bench/thread-cpu.ts \
//     [--from 'concurrently'] [--to 'converged'] [--json FILE]
//
// At the first line containing --from (default: "concurrently", the converge's start) and the
// first containing --to (default: "converged") it reads /proc/PID/task/TID/stat of every agent
// process (cmdline " agent "); at the end it prints, per agent node, the CPU-s of each kind of
// thread between the two (threads of one name summed: JITWorker, HeapHelper, ...). Only agents
// whose --name the run's JSON line lists count (other engineers' agents may run meanwhile).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'

interface Thread {
  pid: number
  node: string
  comm: string
  cpu: number
}

function parseArgs(argv: string[]): { from: string; to: string; json?: string } {
  const o: { from: string; to: string; json?: string } = {
    from: 'concurrently',
    to: 'converged',
  }
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i]!
    const value = argv[i + 1]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === '--from') o.from = value
    else if (flag === '--to') o.to = value
    else if (flag === '--json') o.json = value
    else throw new Error(`unknown flag ${flag} (see the header of bench/thread-cpu.ts)`)
  }
  return o
}

const TICKS = 100 // USER_HZ

/** Every agent thread on the machine by "pid/tid". */
function snapshot(): Map<string, Thread> {
  const out = new Map<string, Thread>()
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue
    let cmd: string
    let tids: string[]
    try {
      cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ')
      if (!cmd.includes(' agent ')) continue
      tids = readdirSync(`/proc/${p}/task`)
    } catch {
      continue // gone between readdir and read: nothing left to count
    }
    const node = / --name (\S+)/.exec(cmd)?.[1] ?? '?'
    for (const t of tids) {
      try {
        const stat = readFileSync(`/proc/${p}/task/${t}/stat`, 'utf8')
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
        const cpu = (Number(f[11]) + Number(f[12])) / TICKS
        out.set(`${p}/${t}`, { pid: Number(p), node, comm, cpu })
      } catch {
        // the thread ended: its CPU is in neither snapshot's delta, a few ms at most
      }
    }
  }
  return out
}

const o = parseArgs(process.argv.slice(2))
let from: Map<string, Thread> | undefined
let to: Map<string, Thread> | undefined
let nodes: string[] = []
let pending = ''
const decoder = new TextDecoder()
for await (const chunk of Bun.stdin.stream()) {
  const text = decoder.decode(chunk, { stream: true })
  process.stdout.write(text)
  pending += text
  const lines = pending.split('\n')
  pending = lines.pop()!
  for (const line of lines) {
    if (!from && line.includes(o.from)) from = snapshot()
    else if (from && !to && line.includes(o.to)) to = snapshot()
    if (line.startsWith('{') && line.includes('"agents"')) {
      const agents = (JSON.parse(line) as { agents?: { node: string }[] }).agents ?? []
      nodes = agents.map((a) => a.node)
    }
  }
}
if (!from || !to) throw new Error(`the run never printed both "${o.from}" and "${o.to}"`)
if (nodes.length === 0) throw new Error('the run printed no JSON line with its agents')

const perNode = new Map<string, Map<string, number>>()
for (const [k, t] of to) {
  if (!nodes.includes(t.node)) continue
  const used = t.cpu - (from.get(k)?.cpu ?? 0)
  const m = perNode.get(t.node) ?? new Map<string, number>()
  m.set(t.comm, (m.get(t.comm) ?? 0) + used)
  perNode.set(t.node, m)
}
const result: Record<string, Record<string, number>> = {}
for (const node of nodes) {
  const m = perNode.get(node) ?? new Map()
  const total = [...m.values()].reduce((a, b) => a + b, 0)
  const parts = [...m].sort((a, b) => b[1] - a[1]).filter(([, v]) => v >= 0.05)
  result[node] = Object.fromEntries([
    ['total', round(total)],
    ...parts.map(([c, v]) => [c, round(v)]),
  ])
  console.log(
    `threads ${node}: ${total.toFixed(1)} CPU-s = ${parts.map(([c, v]) => `${c} ${v.toFixed(1)}`).join(', ')}`,
  )
}
if (o.json) writeFileSync(o.json, JSON.stringify(result, null, 2))

function round(x: number): number {
  return Math.round(x * 100) / 100
}
