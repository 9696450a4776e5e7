// What holds a JS heap: reads a V8-format heap snapshot (an agent's, written on SIGUSR2 with
// WEFT_AGENT_CENSUS=DIR, see src/agent/heap-census.ts), builds its dominator tree and prints
// the self size per object class and the dominator tree from the root down to every subtree
// of at least --min KB, each named by the edge that reaches it (so "a Map held by
// DesiredTracker.byNetwork retains 1.2 MB" reads off the tree).
//
//   bun run bench/heap-census.ts FILE.heapsnapshot [--min 100] [--depth 12] [--json OUT]
import { readFileSync, writeFileSync } from 'node:fs'

interface Options {
  file: string
  minKb: number
  depth: number
  json?: string
}

function parseArgs(argv: string[]): Options {
  const file = argv[0]
  if (!file || file.startsWith('--'))
    throw new Error('usage: heap-census.ts FILE [--min KB] [--depth N] [--json OUT]')
  const o: Options = { file, minKb: 100, depth: 12 }
  for (let i = 1; i < argv.length; i++) {
    const flag = argv[i]!
    const value = argv[++i]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === '--min') o.minKb = Number(value)
    else if (flag === '--depth') o.depth = Number(value)
    else if (flag === '--json') o.json = value
    else throw new Error(`unknown flag: ${flag} (see the header of bench/heap-census.ts)`)
    if (Number.isNaN(o.minKb) || Number.isNaN(o.depth))
      throw new Error(`${flag}: want a number, got ${value}`)
  }
  return o
}

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[]
      node_types: [string[], ...unknown[]]
      edge_fields: string[]
      edge_types: [string[], ...unknown[]]
    }
  }
  nodes: number[]
  edges: number[]
  strings: string[]
}

export interface HeapCensus {
  nodes: number
  selfBytes: number
  byClass: { cls: string; count: number; selfBytes: number }[]
  tree: TreeLine[]
  /** what no edge of the snapshot reaches (Map and Set entries), by shape */
  unreached: { what: string; count: number; retainedBytes: number; objects: number }[]
}

interface TreeLine {
  depth: number
  via: string
  what: string
  retainedBytes: number
  selfBytes: number
  objects: number
}

export function census(s: Snapshot, minBytes: number, maxDepth: number): HeapCensus {
  const meta = s.snapshot.meta
  const NF = meta.node_fields.length
  const EF = meta.edge_fields.length
  const fType = meta.node_fields.indexOf('type')
  const fName = meta.node_fields.indexOf('name')
  const fSelf = meta.node_fields.indexOf('self_size')
  const fEdges = meta.node_fields.indexOf('edge_count')
  const eType = meta.edge_fields.indexOf('type')
  const eName = meta.edge_fields.indexOf('name_or_index')
  const eTo = meta.edge_fields.indexOf('to_node')
  const nodeTypes = meta.node_types[0]
  const edgeTypes = meta.edge_types[0]
  const weak = edgeTypes.indexOf('weak')
  const nameIsString = new Set(
    ['context', 'property', 'internal', 'shortcut'].map((t) => edgeTypes.indexOf(t)),
  )
  const n = s.nodes.length / NF
  const R = n // a virtual root: the heap's root and every object no edge of the snapshot reaches

  const self = (i: number) => (i === R ? 0 : s.nodes[i * NF + fSelf]!)
  const cls = (i: number) => {
    if (i === R) return '(roots)'
    const t = nodeTypes[s.nodes[i * NF + fType]!]!
    const name = s.strings[s.nodes[i * NF + fName]!]!
    return t === 'string' || t === 'concatenated string' || t === 'sliced string'
      ? `(${t})`
      : `${t}:${name.slice(0, 60)}`
  }
  const edgeLabel = (e: number) => {
    if (e < 0) return ''
    const t = s.edges[e * EF + eType]!
    const v = s.edges[e * EF + eName]!
    return nameIsString.has(t) ? String(s.strings[v]) : `[${v}]`
  }
  // strong successors in flat arrays (target and the snapshot's edge number)
  const firstEdge = new Int32Array(n + 2)
  const edgeOwner = new Int32Array(s.edges.length / EF)
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e
    const k = s.nodes[i * NF + fEdges]!
    for (let j = 0; j < k; j++) edgeOwner[e + j] = i
    e += k
  }
  firstEdge[n] = s.edges.length / EF
  const strong = (e: number) => s.edges[e * EF + eType] !== weak
  const target = (e: number) => s.edges[e * EF + eTo]! / NF
  // JSC's export leaves out the entries of Maps and Sets (their storage has no edges): what they
  // hold has no predecessor; it hangs off the virtual root, grouped below by its shape
  const hasPred = new Uint8Array(n)
  for (let e = 0; e < edgeOwner.length; e++) if (strong(e)) hasPred[target(e)] = 1
  const heads: number[] = [0]
  for (let i = 1; i < n; i++) if (!hasPred[i]) heads.push(i)
  const succ = (v: number, f: (w: number, e: number) => void) => {
    if (v === R) for (const h of heads) f(h, -1)
    else for (let e = firstEdge[v]!; e < firstEdge[v + 1]!; e++) if (strong(e)) f(target(e), e)
  }

  // depth-first postorder from the virtual root; the tree edge names each object
  const order = new Int32Array(n + 1).fill(-1)
  const parentEdge = new Int32Array(n + 1).fill(-1)
  const seen = new Uint8Array(n + 1)
  const post: number[] = []
  const dfs = (root: number) => {
    seen[root] = 1
    const stack: { v: number; next: number[]; at: number }[] = []
    const open = (v: number) => {
      const next: number[] = []
      succ(v, (w, e) => {
        if (!seen[w]) {
          next.push(w, e)
        }
      })
      stack.push({ v, next, at: 0 })
    }
    open(root)
    while (stack.length) {
      const top = stack[stack.length - 1]!
      let pushed = false
      while (top.at < top.next.length) {
        const w = top.next[top.at]!
        const e = top.next[top.at + 1]!
        top.at += 2
        if (seen[w]) continue
        seen[w] = 1
        parentEdge[w] = e
        open(w)
        pushed = true
        break
      }
      if (!pushed) {
        order[top.v] = post.length
        post.push(top.v)
        stack.pop()
      }
    }
  }
  dfs(R)
  // cycles no edge reaches: one of each becomes a head too, visited as R's last children (R
  // moved to the end again keeps the order a depth-first postorder)
  for (let i = 0; i < n; i++)
    if (!seen[i]) {
      heads.push(i)
      post.pop()
      parentEdge[i] = -1
      dfs(i)
      order[R] = post.length
      post.push(R)
    }
  const preds: number[][] = Array.from({ length: n + 1 }, () => [])
  for (const v of post) succ(v, (w) => preds[w]!.push(v))
  // Cooper, Harvey, Kennedy: "A Simple, Fast Dominance Algorithm"
  const idom = new Int32Array(n + 1).fill(-1)
  idom[R] = R
  const intersect = (a: number, b: number) => {
    while (a !== b) {
      while (order[a]! < order[b]!) a = idom[a]!
      while (order[b]! < order[a]!) b = idom[b]!
    }
    return a
  }
  for (let changed = true; changed;) {
    changed = false
    for (let k = post.length - 1; k >= 0; k--) {
      const v = post[k]!
      if (v === R) continue
      let d = -1
      for (const u of preds[v]!) {
        if (idom[u] === -1) continue
        d = d === -1 ? u : intersect(u, d)
      }
      if (d !== -1 && idom[v] !== d) {
        idom[v] = d
        changed = true
      }
    }
  }
  const retained = new Float64Array(n + 1)
  const count = new Int32Array(n + 1)
  for (const v of post) {
    retained[v]! += self(v)
    count[v]! += 1
    if (v !== R) {
      retained[idom[v]!]! += retained[v]!
      count[idom[v]!]! += count[v]!
    }
  }
  const children = new Map<number, number[]>()
  for (const v of post) {
    if (v === R) continue
    const d = idom[v]!
    let c = children.get(d)
    if (!c) children.set(d, (c = []))
    c.push(v)
  }
  // an object by its class and its first property names: Map and Set entries have no edge
  // naming them, their shape says what they are
  const shape = (v: number) => {
    const names: string[] = []
    for (let e = firstEdge[v]!; e < firstEdge[v + 1]! && names.length < 6; e++) {
      const t = s.edges[e * EF + eType]!
      if (t === edgeTypes.indexOf('property')) names.push(edgeLabel(e))
    }
    return names.length ? `${cls(v)}{${names.join(',')}}` : cls(v)
  }
  const unnamed = new Map<string, { count: number; retainedBytes: number; objects: number }>()
  for (const c of children.get(R) ?? []) {
    if (c === 0) continue
    const k = shape(c)
    const u = unnamed.get(k) ?? { count: 0, retainedBytes: 0, objects: 0 }
    u.count++
    u.retainedBytes += retained[c]!
    u.objects += count[c]!
    unnamed.set(k, u)
  }
  const unreached = [...unnamed]
    .map(([what, u]) => ({ what, ...u }))
    .sort((a, b) => b.retainedBytes - a.retainedBytes)

  const byClassMap = new Map<string, { count: number; selfBytes: number }>()
  let selfBytes = 0
  for (const v of post) {
    const c = cls(v)
    const b = byClassMap.get(c) ?? { count: 0, selfBytes: 0 }
    b.count++
    b.selfBytes += self(v)
    selfBytes += self(v)
    byClassMap.set(c, b)
  }
  const byClass = [...byClassMap]
    .map(([c, b]) => ({ cls: c, ...b }))
    .sort((a, b) => b.selfBytes - a.selfBytes)

  const tree: TreeLine[] = []
  const walk = (v: number, depth: number) => {
    const kids = (children.get(v) ?? []).filter((c) => retained[c]! >= minBytes)
    kids.sort((a, b) => retained[b]! - retained[a]!)
    for (const c of kids) {
      const pe = parentEdge[c]!
      tree.push({
        depth,
        via: pe >= 0 ? `${cls(edgeOwner[pe]!)} .${edgeLabel(pe)}` : '',
        what: shape(c),
        retainedBytes: retained[c]!,
        selfBytes: self(c),
        objects: count[c]!,
      })
      if (depth < maxDepth) walk(c, depth + 1)
    }
  }
  walk(R, 0)
  return { nodes: post.length - 1, selfBytes, byClass, tree, unreached }
}

/**
 * Strings by pattern (hex runs as H, digits as N): how many cells, and how many are copies of a
 * string another cell already holds (the same id parsed again by each module that keeps it).
 */
export function stringCopies(
  s: Snapshot,
): { pattern: string; cells: number; copies: number; bytes: number }[] {
  const meta = s.snapshot.meta
  const NF = meta.node_fields.length
  const fType = meta.node_fields.indexOf('type')
  const fName = meta.node_fields.indexOf('name')
  const fSelf = meta.node_fields.indexOf('self_size')
  const stringType = meta.node_types[0].indexOf('string')
  const byValue = new Map<string, { n: number; bytes: number }>()
  for (let i = 0; i < s.nodes.length; i += NF) {
    if (s.nodes[i + fType] !== stringType) continue
    const v = s.strings[s.nodes[i + fName]!]!
    const b = byValue.get(v) ?? { n: 0, bytes: 0 }
    b.n++
    b.bytes += s.nodes[i + fSelf]!
    byValue.set(v, b)
  }
  const byPattern = new Map<string, { cells: number; copies: number; bytes: number }>()
  for (const [v, b] of byValue) {
    const pattern = v
      .replace(/[0-9a-f]{8,}/g, 'H')
      .replace(/\d+/g, 'N')
      .slice(0, 50)
    const p = byPattern.get(pattern) ?? { cells: 0, copies: 0, bytes: 0 }
    p.cells += b.n
    p.copies += b.n - 1
    p.bytes += b.bytes
    byPattern.set(pattern, p)
  }
  return [...byPattern].map(([pattern, p]) => ({ pattern, ...p })).sort((a, b) => b.bytes - a.bytes)
}

function kb(b: number): string {
  return `${(b / 1024).toFixed(0)} KB`
}

function main(): void {
  const o = parseArgs(process.argv.slice(2))
  const s = JSON.parse(readFileSync(o.file, 'utf8')) as Snapshot
  const c = census(s, o.minKb * 1024, o.depth)
  console.log(`${c.nodes} reachable objects, ${(c.selfBytes / 2 ** 20).toFixed(2)} MB self size`)
  console.log('\nself size by class (top 40):')
  for (const b of c.byClass.slice(0, 40))
    console.log(`  ${kb(b.selfBytes).padStart(9)} ${String(b.count).padStart(8)}  ${b.cls}`)
  console.log(`\ndominator tree (subtrees >= ${o.minKb} KB): retained, objects, what, held via`)
  for (const t of c.tree)
    console.log(`${'  '.repeat(t.depth)}${kb(t.retainedBytes)} ${t.objects} ${t.what}  <- ${t.via}`)
  console.log(
    '\nheld where the snapshot has no edge (Map and Set entries), by shape: retained, objects, count',
  )
  for (const u of c.unreached.slice(0, 40))
    console.log(
      `  ${kb(u.retainedBytes).padStart(9)} ${String(u.objects).padStart(8)} ${String(u.count).padStart(7)}  ${u.what}`,
    )
  console.log(
    '\nstrings by pattern (H = hex run, N = digits): bytes, cells, copies of a value another cell holds',
  )
  for (const p of stringCopies(s).slice(0, 25))
    console.log(
      `  ${kb(p.bytes).padStart(9)} ${String(p.cells).padStart(7)} ${String(p.copies).padStart(7)}  ${JSON.stringify(p.pattern)}`,
    )
  if (o.json) writeFileSync(o.json, JSON.stringify(c, null, 1))
}

if (import.meta.main) main()
