// What a demo run made, written down before each thing is made (so a crash or Ctrl-C at
// any point can be undone), under /run/weft-demo/<prefix>/state.json; and the teardown
// that removes exactly that: agent processes by PID, namespaces, pins, state files.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PIN_ROOT } from '../datapath/index.ts'
import { alive, run } from './_exec.ts'
import { demoDockerLeftovers, teardownDemoDocker, type DemoDockerRecord } from './docker.ts'

export const DEMO_ROOT = '/run/weft-demo'
export { PIN_ROOT }

export interface DemoAgent {
  node: string
  ns: string
  pid: number
  socket: string
}

export interface DemoState {
  prefix: string
  created: string
  datapath: 'bpf' | 'kernel'
  /** In creation order; removed in reverse. */
  namespaces: string[]
  /** Node names: pins live under /sys/fs/bpf/weft/<node>. */
  nodes: string[]
  agents: DemoAgent[]
  /** Docker daemons of `weft demo --docker`, one per host. */
  docker?: DemoDockerRecord[]
  /** Filled in once the demo is up (for --keep). */
  info?: Record<string, string>
}

export const stateDir = (prefix: string) => join(DEMO_ROOT, prefix)

export function saveState(s: DemoState): void {
  mkdirSync(stateDir(s.prefix), { recursive: true, mode: 0o700 })
  writeFileSync(join(stateDir(s.prefix), 'state.json'), JSON.stringify(s, null, 2))
}

export function listStates(): DemoState[] {
  if (!existsSync(DEMO_ROOT)) return []
  const out: DemoState[] = []
  for (const name of readdirSync(DEMO_ROOT)) {
    const f = join(DEMO_ROOT, name, 'state.json')
    try {
      out.push(JSON.parse(readFileSync(f, 'utf8')) as DemoState)
    } catch {
      // a directory without a readable state: nothing we can safely remove but the dir
      if (/^wd[0-9a-f]{4}$/.test(name) && !existsSync(f)) rmSync(join(DEMO_ROOT, name), { recursive: true, force: true })
    }
  }
  return out
}

/** Is this PID still the agent we started (not a reused PID)? */
function isOurAgent(a: DemoAgent): boolean {
  if (!alive(a.pid)) return false
  try {
    const cmdline = readFileSync(`/proc/${a.pid}/cmdline`, 'utf8').split('\0')
    return cmdline.includes('agent') && cmdline.includes(a.node)
  } catch {
    return false
  }
}

/** Stop an agent by PID: SIGTERM, then SIGKILL after a grace period. */
async function stopAgent(a: DemoAgent, graceMs = 5000): Promise<void> {
  if (!isOurAgent(a)) return
  process.kill(a.pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (alive(a.pid) && Date.now() < deadline) await Bun.sleep(50)
  if (alive(a.pid)) process.kill(a.pid, 'SIGKILL')
  const hard = Date.now() + 2000
  while (alive(a.pid) && Date.now() < hard) await Bun.sleep(20)
}

async function existingNamespaces(): Promise<Set<string>> {
  const r = await run(['ip', '-j', 'netns', 'list'])
  const list: { name: string }[] = r.stdout.trim() ? JSON.parse(r.stdout) : []
  return new Set(list.map((n) => n.name))
}

/** Remove everything a demo run recorded. Returns what is still left (empty when clean). */
export async function teardown(s: DemoState, log: (line: string) => void = () => {}): Promise<string[]> {
  // containers first, while the agents still answer Docker's plugin calls
  for (const d of s.docker ?? []) await teardownDemoDocker(d, log)
  for (const a of s.agents) {
    if (isOurAgent(a)) log(`stop agent ${a.node} (pid ${a.pid})`)
    await stopAgent(a)
  }
  for (const node of s.nodes) {
    const dir = join(PIN_ROOT, node)
    if (existsSync(dir)) {
      log(`remove BPF pins ${dir}`)
      rmSync(dir, { recursive: true, force: true })
    }
  }
  try {
    rmdirSync(PIN_ROOT) // only when empty: other nodes' pins on this host stay
  } catch {}
  const present = await existingNamespaces()
  for (const ns of [...s.namespaces].reverse()) {
    if (!present.has(ns)) continue
    log(`delete namespace ${ns}`)
    await run(['ip', 'netns', 'del', ns])
  }
  rmSync(stateDir(s.prefix), { recursive: true, force: true })
  return leftovers(s)
}

/** Anything of this run that still exists: namespaces, pins, processes, state. */
export async function leftovers(s: DemoState): Promise<string[]> {
  const left: string[] = []
  const present = await existingNamespaces()
  for (const ns of s.namespaces) if (present.has(ns)) left.push(`namespace ${ns}`)
  for (const node of s.nodes) if (existsSync(join(PIN_ROOT, node))) left.push(`pins ${join(PIN_ROOT, node)}`)
  for (const a of s.agents) if (isOurAgent(a)) left.push(`agent process ${a.pid}`)
  for (const d of s.docker ?? []) left.push(...demoDockerLeftovers(d))
  if (existsSync(stateDir(s.prefix))) left.push(`state dir ${stateDir(s.prefix)}`)
  return left
}
