// Scratch tool (not part of `bun test`): a Bun `--cpu-prof` profile grouped by whose code ran —
// each src/ file (or src/ directory with --dirs), each npm package, Bun's node:/internal: modules,
// and the native work JS calls into (JSON, GC, fetch, libSQL's addon, syscalls by FFI) — within
// a wall-clock window, so a converge's profile leaves out start-up and shutdown.
// Self: the sample's innermost frame with a file decides; a native leaf (no file) is counted
// under its own name when it is one of the kinds below, else under the nearest caller's module.
// Total: a sample counts once for every module on its stack.
// Usage: bun run test/perf/cpuprofile-modules.ts FILE.cpuprofile [fromEpochMs toEpochMs] [top]
//   [--dirs] (src/ by directory, not by file)
import { readFileSync } from 'node:fs'

interface Node {
  id: number
  callFrame: { functionName: string; url: string }
}
interface Profile {
  nodes: (Node & { children?: number[] })[]
  startTime: number
  endTime: number
  samples: number[]
  timeDeltas: number[]
}

/** Native functions (no file) that are a kind of work of their own, by name. */
const NATIVE: [RegExp, string][] = [
  [/^(gc|\(garbage collector\))$/, '(native) GC'],
  [/^(stringify|parse|rawJSON)$/, '(native) JSON parse/stringify'],
  [/^libsql_js::/, '(native) libsql addon'],
  [/^(fetch|Request|Response|text|arrayBuffer|json)$/, '(native) fetch/Request/Response'],
  [/^(send|recv|sendto|recvfrom|i32|ptr)$/, '(native) FFI call (netlink, libc)'],
  [/^bpf_/, '(native) libbpf'],
  [/^(writeHeadAndEnd|takeRawHeaders|resume)$/, '(native) node:http server'],
  [/^\/.*\/[a-z]*$/, '(native) RegExp'],
]

const dirs = process.argv.includes('--dirs')
const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
if (!args[0]) throw new Error('usage: cpuprofile-modules.ts FILE.cpuprofile [fromMs toMs] [top]')
const p = JSON.parse(readFileSync(args[0], 'utf8')) as Profile
const from = args[1] ? Number(args[1]) * 1000 : -Infinity
const to = args[2] ? Number(args[2]) * 1000 : Infinity
const top = Number(args[3] ?? 30)

/** The module a frame's file belongs to, or undefined for a native frame. */
function moduleOf(url: string): string | undefined {
  if (!url) return undefined
  const npm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)
  if (npm) return npm[1] === 'libsql' ? 'libsql (js)' : npm[1]!
  const src = /\/src\/(.+)$/.exec(url)
  if (src) {
    const parts = src[1]!.split('/')
    return dirs && parts.length > 1 ? `src/${parts[0]}` : `src/${src[1]}`
  }
  if (/^(node:|internal:|bun:)/.test(url)) return url.replace(/\/.*$/, '')
  return url.replace(/^.*\//, '')
}

const parent = new Map<number, number>()
const byId = new Map<number, Node>()
for (const n of p.nodes) {
  byId.set(n.id, n)
  for (const c of n.children ?? []) parent.set(c, n.id)
}

const self = new Map<string, number>()
const total = new Map<string, number>()
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1)
let t = p.startTime
let inWindow = 0
let idle = 0
let busy = 0
let dtSum = 0
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i]!
  if (t < from || t > to) continue
  inWindow++
  dtSum += p.timeDeltas[i]!
  const leaf = byId.get(p.samples[i]!)!
  if (/^\((idle|program|root)\)$/.test(leaf.callFrame.functionName)) {
    idle++
    continue
  }
  busy++
  const stack: Node[] = []
  for (let id: number | undefined = leaf.id; id !== undefined; id = parent.get(id))
    stack.push(byId.get(id)!)
  const kind = moduleOf(leaf.callFrame.url)
  // a netlink exchange blocks in send/recv while another process holds RTNL: wait, not work
  if (
    /\/src\/sys\/libc\.ts$/.test(leaf.callFrame.url) &&
    /^(send|recv)$/.test(leaf.callFrame.functionName)
  )
    bump(self, '(blocked) netlink send/recv')
  else if (kind) bump(self, kind)
  else {
    const named = NATIVE.find(([re]) => re.test(leaf.callFrame.functionName))
    const caller = stack.map((n) => moduleOf(n.callFrame.url)).find((m) => m !== undefined)
    bump(self, named ? named[1] : `(native) from ${caller ?? '?'}`)
  }
  const seen = new Set<string>()
  for (const n of stack) {
    const m = moduleOf(n.callFrame.url)
    if (m && !seen.has(m)) {
      seen.add(m)
      bump(total, m)
    }
  }
}
const ms = inWindow ? dtSum / inWindow / 1000 : 0
console.log(
  `${inWindow} samples (${busy} busy, ${idle} idle) at ${ms.toFixed(1)} ms; seconds below = samples × interval`,
)
const rows = [...new Set([...self.keys(), ...total.keys()])]
  .map((k) => ({ k, self: self.get(k) ?? 0, total: total.get(k) ?? 0 }))
  .sort((a, b) => b.self - a.self)
  .slice(0, top)
console.log('| module | self s | total s |\n| --- | ---: | ---: |')
for (const r of rows)
  console.log(
    `| ${r.k} | ${((r.self * ms) / 1000).toFixed(2)} | ${((r.total * ms) / 1000).toFixed(2)} |`,
  )
