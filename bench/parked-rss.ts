// What a parked blocking query costs in resident memory, on the store and on its client: one
// embedded store (TLS, token, as agents reach it) and one client process in a network
// namespace of this run's own; the client parks N blocking list queries, each on its own
// prefix (an agent parks one per followed network), and both report RSS after a full
// collection at every step. Controlled: nothing else runs in either process.
//
//   bun run bench/parked-rss.ts [--steps 0,100,200,400] [--keys 4000] [--server thread|main|plain]
//                               [--value-bytes 300] [--rounds 1] [--clients 1] [--churn 0] [--shared]
//                               [--json FILE]
//
// --server thread: the store on a Worker, as the agent serves it; main: on the process's own
// thread; plain: main, no TLS and no token (what TLS costs per connection). --shared: every
// client watches (and churns) the same prefixes, as hosts follow the same networks. Each row
// also gives the CPU-s the store's thread (its Worker, or the server process) has used: a churn
// row's difference is what the store spent on those writes and the wakes they caused.
import { spawn, type Subprocess } from 'bun'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { heapStats } from 'bun:jsc'

interface Options {
  steps: number[]
  keys: number
  valueBytes: number
  /** times the keys are written (1: once; more: the same keys rewritten, to tell cost per key from cost per write) */
  rounds: number
  /** client processes, each parking the steps' counts (an agent per client) */
  clients: number
  /** single writes per client after parking, each waking one of its watches */
  churn: number
  server: 'thread' | 'main' | 'plain'
  /** every client on the same prefixes (hosts following the same networks) */
  shared: boolean
  json?: string
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    steps: [0, 100],
    keys: 4000,
    valueBytes: 300,
    rounds: 1,
    clients: 1,
    churn: 0,
    server: 'thread',
    shared: false,
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    if (flag === '--shared') {
      o.shared = true
      continue
    }
    const value = argv[++i]
    if (value === undefined) throw new Error(`${flag} needs a value`)
    if (flag === '--steps') o.steps = value.split(',').map((v) => count(flag, v))
    else if (flag === '--keys') o.keys = count(flag, value)
    else if (flag === '--value-bytes') o.valueBytes = count(flag, value)
    else if (flag === '--rounds') o.rounds = count(flag, value)
    else if (flag === '--clients') o.clients = Math.max(1, count(flag, value))
    else if (flag === '--churn') o.churn = count(flag, value)
    else if (flag === '--server' && (value === 'thread' || value === 'main' || value === 'plain'))
      o.server = value
    else if (flag === '--json') o.json = value
    else
      throw new Error(
        `unknown flag or value: ${flag} ${value} (see the header of bench/parked-rss.ts)`,
      )
  }
  if (o.steps.some((s, i) => i > 0 && s < o.steps[i - 1]!))
    throw new Error('--steps: want increasing counts, e.g. 0,100,200,400')
  return o
}

function count(flag: string, v: string): number {
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag}: want an integer >= 0, got ${v}`)
  return n
}

const MB = 2 ** 20
const round = (x: number) => Math.round(x * 10) / 10

/** CPU-s (user + system) of the store's thread: the Worker's, or the whole server process's. */
function storeCpuSeconds(pid: number, mode: Options['server']): number {
  let ticks = 0
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8')
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    if (mode === 'thread' && comm !== 'Worker') continue
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += Number(f[11]) + Number(f[12])
  }
  return ticks / 100
}

/** Resident MB split as bench/rss.ts does: all, anonymous. */
async function residentMb(pid: number): Promise<{ rss: number; anon: number }> {
  const text = await Bun.file(`/proc/${pid}/smaps_rollup`).text()
  const kb = (name: string) =>
    Number(text.match(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN)
  return { rss: round(kb('Rss') / 1024), anon: round(kb('Anonymous') / 1024) }
}

// ---- the child roles: one JSON line per command on stdin ----------------------------------

type Reply = Record<string, unknown>

async function serveLines(handle: (cmd: Record<string, unknown>) => Promise<Reply>): Promise<void> {
  let buf = ''
  for await (const chunk of Bun.stdin.stream()) {
    buf += new TextDecoder().decode(chunk)
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      let reply: Reply
      try {
        reply = await handle(JSON.parse(line))
      } catch (e) {
        reply = { error: e instanceof Error ? (e.stack ?? e.message) : String(e) }
      }
      process.stdout.write(JSON.stringify(reply) + '\n')
    }
  }
}

function mainHeap(): Reply {
  Bun.gc(true)
  const h = heapStats()
  return { heapMb: round(h.heapSize / MB), heapCapMb: round(h.heapCapacity / MB) }
}

async function serverRole(mode: Options['server'], dir: string): Promise<void> {
  const { serveEmbeddedStore, serveEmbeddedStoreInThread } =
    await import('../src/kv/secure/store-access.ts').then(async (a) => ({
      ...a,
      ...(await import('../src/kv/secure/store-thread.ts')),
    }))
  const { serveKv } = await import('../src/kv/server/index.ts')
  const listen = { hostname: '127.0.0.1', port: 0 }
  const common = {
    dataDir: dir,
    dbPath: join(dir, 'kv.db'),
    listen,
    advertise: '127.0.0.1',
    nodeName: 'h1',
  }
  let clientOptions: unknown
  let memory: () => Promise<Reply>
  if (mode === 'thread') {
    const s = await serveEmbeddedStoreInThread(common)
    clientOptions = s.clientOptions
    memory = async () => {
      const m = await s.memory(true)
      return {
        storeHeapMb: round(m.heapSize / MB),
        storeHeapCapMb: round(m.heapCapacity / MB),
        waiters: m.waiters,
        storeObjects: m.objects.slice(0, 8).map(([t, n]) => `${t} ${n}`),
      }
    }
  } else {
    const served =
      mode === 'main'
        ? await serveEmbeddedStore(common).then(
            (s) => ((clientOptions = s.clientOptions), s.served),
          )
        : await serveKv({
            dbPath: common.dbPath,
            ...listen,
            nodeName: 'h1',
            advertise: '127.0.0.1:0',
          })
    if (mode === 'plain') clientOptions = { address: served.url }
    memory = async () => ({ waiters: served.stats().waiters })
  }
  process.stdout.write(JSON.stringify({ clientOptions }) + '\n')
  await serveLines(async (cmd) => {
    // the client's requests are on their way: measure once the store holds them all
    const want = Number(cmd.waiters ?? 0)
    const deadline = performance.now() + 30_000
    let m = await memory()
    while (Number(m.waiters) < want) {
      if (performance.now() > deadline)
        throw new Error(`only ${m.waiters} of ${want} queries parked within 30 s`)
      await Bun.sleep(50)
      m = await memory()
    }
    return { ...mainHeap(), ...m }
  })
}

/**
 * A client process: `park` N watches (real watch loops, as an agent's follower runs them, each on
 * its own prefix: one parked query each), `fill` K keys in transactions of 64, `churn` W single
 * writes under the watched prefixes (each wakes a watch, which reads and parks again).
 */
async function clientRole(optionsJson: string, id: number, shared: boolean): Promise<void> {
  const { ConsulClient } = await import('../src/kv/client/index.ts')
  const client = new ConsulClient(JSON.parse(optionsJson))
  const watches: { stop(): void }[] = []
  const prefix = (n: number) => `weft/v1/endpoints/${shared ? '' : `c${id}`}n${n}/`
  const bytes = (round: unknown, size: unknown) =>
    new TextEncoder().encode(String(round ?? 1).padEnd(Number(size), 'v'))
  let writes = 0
  await serveLines(async (cmd) => {
    if (cmd.fill) {
      const n = Number(cmd.fill)
      for (let i = 0; i < n; i += 64)
        await client.txn(
          Array.from({ length: Math.min(64, n - i) }, (_, k) => ({
            verb: 'set' as const,
            key: `weft/v1/endpoints/fill${(i + k) % 300}/e${i + k}`,
            value: bytes(cmd.round, cmd.valueBytes),
          })),
        )
      return { filled: n }
    }
    if (cmd.churn) {
      // a few at a time, as connects arrive: each write wakes one watch
      const n = Number(cmd.churn)
      const width = Math.max(1, watches.length)
      for (let i = 0; i < n; i += 8)
        await Promise.all(
          Array.from({ length: Math.min(8, n - i) }, () => {
            const w = writes++
            return client.kv.put(`${prefix(w % width)}c${id}e${w}`, bytes(1, cmd.valueBytes))
          }),
        )
      return mainHeap()
    }
    const want = Number(cmd.park ?? watches.length)
    while (watches.length < want) {
      const n = watches.length
      watches.push(
        client.watch(prefix(n), () => {}, {
          waitMs: 300_000,
          onError: (e) => console.error(`watch ${n}: ${(e as Error).message}`),
        }),
      )
    }
    return mainHeap()
  })
  for (const w of watches) w.stop()
}

// ---- the orchestrator ---------------------------------------------------------------------

class Child {
  private lines: string[] = []
  private ended: string | undefined
  constructor(readonly proc: Subprocess<'pipe', 'pipe', 'inherit'>) {
    void (async () => {
      let buf = ''
      for await (const chunk of proc.stdout) {
        buf += new TextDecoder().decode(chunk)
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          this.lines.push(buf.slice(0, nl))
          buf = buf.slice(nl + 1)
        }
      }
      this.ended = `child ${proc.pid} ended (exit ${await proc.exited})`
    })()
  }
  /** The child's next answer (polled: a child answers within its own deadlines or fails). */
  async line(timeoutMs = 60_000): Promise<Reply> {
    const deadline = performance.now() + timeoutMs
    while (this.lines.length === 0) {
      if (this.ended) throw new Error(this.ended)
      if (performance.now() > deadline)
        throw new Error(`child ${this.proc.pid} did not answer within ${timeoutMs} ms`)
      await Bun.sleep(20)
    }
    const r = JSON.parse(this.lines.shift()!) as Reply
    if (r.error) throw new Error(`child ${this.proc.pid}: ${r.error}`)
    return r
  }
  async ask(cmd: Reply): Promise<Reply> {
    this.proc.stdin.write(JSON.stringify(cmd) + '\n')
    await this.proc.stdin.flush()
    return this.line(600_000)
  }
}

async function main(o: Options): Promise<void> {
  const ns = `weft-parked-${process.pid}`
  const dir = mkdtempSync(join(tmpdir(), 'weft-parked-'))
  const children: Child[] = []
  const sh = (args: string[]) => {
    const r = Bun.spawnSync(args)
    if (r.exitCode !== 0) throw new Error(`${args.join(' ')}: ${r.stderr.toString().trim()}`)
  }
  sh(['ip', 'netns', 'add', ns])
  const cleanup = async () => {
    for (const c of children.reverse()) {
      c.proc.kill()
      await c.proc.exited
    }
    Bun.spawnSync(['ip', 'netns', 'del', ns])
    rmSync(dir, { recursive: true, force: true })
  }
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)))
  try {
    sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    const start = (role: string[]) => {
      const c = new Child(
        spawn(['ip', 'netns', 'exec', ns, process.execPath, import.meta.path, ...role], {
          stdin: 'pipe',
          stdout: 'pipe',
          stderr: 'inherit',
        }),
      )
      children.push(c)
      return c
    }
    const server = start(['--role', 'server', o.server, dir])
    const { clientOptions } = await server.line()
    const clients = Array.from({ length: o.clients }, (_, i) =>
      start(['--role', 'client', JSON.stringify(clientOptions), String(i), String(o.shared)]),
    )
    let parked = 0
    const row = async (label: string, cmd: Reply) => {
      const c = await Promise.all(clients.map((cl) => cl.ask(cmd)))
      if (cmd.park !== undefined) parked = Number(cmd.park) * o.clients
      // ip netns exec runs the bun process itself (exec): its PID is the child's
      const s = await server.ask({ waiters: parked })
      const r = {
        label,
        server: {
          ...(await residentMb(server.proc.pid)),
          storeCpuS: storeCpuSeconds(server.proc.pid, o.server),
          ...s,
        },
        client: { ...(await residentMb(clients[0]!.proc.pid)), ...c[0] },
      }
      console.log(JSON.stringify(r))
      return r
    }
    const rows = [await row('empty store, nothing parked', { park: 0 })]
    for (let r = 1; r <= o.rounds; r++)
      rows.push(
        await row(`${o.keys * o.clients} keys written${r > 1 ? ` (round ${r})` : ''}`, {
          fill: o.keys,
          valueBytes: o.valueBytes,
          round: r,
        }),
      )
    for (const n of o.steps) rows.push(await row(`${n * o.clients} parked`, { park: n }))
    const first = rows.find((r) => r.label === `${o.steps[0]! * o.clients} parked`)!
    const last = rows.at(-1)!
    const n = (o.steps.at(-1)! - o.steps[0]!) * o.clients
    if (n > 0)
      console.log(
        `per parked query (${o.server}): server ${round(((last.server.rss - first.server.rss) * 1024) / n)} kB,` +
          ` client ${round(((last.client.rss - first.client.rss) * 1024) / o.clients / (n / o.clients))} kB`,
      )
    if (o.churn) {
      rows.push(
        await row(`${o.churn * o.clients} writes waking watches`, {
          churn: o.churn,
          valueBytes: o.valueBytes,
        }),
      )
      rows.push(
        await row(`another ${o.churn * o.clients}`, { churn: o.churn, valueBytes: o.valueBytes }),
      )
    }
    if (o.json) writeFileSync(o.json, JSON.stringify({ options: o, rows }, null, 2))
  } finally {
    await cleanup()
  }
}

const argv = process.argv.slice(2)
if (argv[0] === '--role' && argv[1] === 'server')
  await serverRole(argv[2] as Options['server'], argv[3]!)
else if (argv[0] === '--role' && argv[1] === 'client')
  await clientRole(argv[2]!, Number(argv[3]), argv[4] === 'true')
else await main(parseArgs(argv))
