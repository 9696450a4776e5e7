// Scratch tool (not part of `bun test`): where a Bun `--cpu-prof` profile (.cpuprofile JSON)
// spent its samples within a wall-clock window, so a converge's profile leaves out start-up,
// network creation and shutdown. Counts samples (each one interval of main-thread time, busy or
// blocked in a call) by function, inclusive, and by self.
// Usage: bun run test/perf/cpuprofile-window.ts FILE.cpuprofile [fromEpochMs toEpochMs] [top]
//   [--match=REGEX]  (only functions whose name or file matches)
//   [--under=REGEX]  (only samples with a frame that matches on their stack)
import { readFileSync } from 'node:fs'

interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}
interface Profile {
  nodes: Node[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const match = process.argv.find((a) => a.startsWith('--match='))?.slice(8)
const under = process.argv.find((a) => a.startsWith('--under='))?.slice(8)
const p = JSON.parse(readFileSync(args[0]!, 'utf8')) as Profile
const from = args[1] ? Number(args[1]) * 1000 : -Infinity
const to = args[2] ? Number(args[2]) * 1000 : Infinity
const top = Number(args[3] ?? 40)

const parent = new Map<number, number>()
const byId = new Map<number, Node>()
for (const n of p.nodes) {
  byId.set(n.id, n)
  for (const c of n.children ?? []) parent.set(c, n.id)
}
const name = (n: Node) => {
  const f = n.callFrame
  const file = f.url.replace(/^.*\/(src|node_modules)\//, '$1/')
  return `${f.functionName || '(anonymous)'} ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`
}
const fnName = (n: Node) =>
  `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(src|node_modules)\//, '$1/')}`

const self = new Map<string, number>()
const incl = new Map<string, number>()
let t = p.startTime
let total = 0
let idle = 0
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i]!
  if (t < from || t > to) continue
  total++
  const leaf = byId.get(p.samples[i]!)!
  if (/^\((idle|program|root)\)$/.test(leaf.callFrame.functionName)) {
    idle++
    continue
  }
  if (under) {
    let hit = false
    for (let id: number | undefined = leaf.id; id !== undefined && !hit; id = parent.get(id))
      hit = new RegExp(under).test(fnName(byId.get(id)!))
    if (!hit) continue
  }
  self.set(name(leaf), (self.get(name(leaf)) ?? 0) + 1)
  const seen = new Set<string>()
  for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id)) {
    const k = fnName(byId.get(id)!)
    if (seen.has(k)) continue
    seen.add(k)
    incl.set(k, (incl.get(k) ?? 0) + 1)
  }
}
const span = (Math.min(to, p.endTime) - Math.max(from, p.startTime)) / 1e6
console.log(
  `${total} samples in ${span.toFixed(1)} s (${idle} idle/program); profile ${new Date(p.startTime / 1000).toISOString()}..${new Date(p.endTime / 1000).toISOString()}`,
)
const show = (m: Map<string, number>, title: string) => {
  console.log(`\n${title}`)
  const rows = [...m].filter(([k]) => !match || new RegExp(match).test(k))
  for (const [k, v] of rows.sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${String(v).padStart(6)}  ${k}`)
}
show(self, 'self samples')
show(incl, 'inclusive samples (per function, once per stack)')
