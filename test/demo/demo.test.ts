// `weft demo` from the built binary, copied out of the repository (it must not need repo
// files at runtime): exits 0, shows a ping across hosts, and leaves nothing of its prefix
// behind (namespaces, pins, processes, state). Datapath: WEFT_TEST_DATAPATH (default bpf).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireRoot, run } from '../harness/index.ts'
import { WEFT } from '../agent/agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'

/** Namespaces, pin dirs, processes and state of one demo run that still exist. */
async function leftovers(prefix: string): Promise<string[]> {
  const found: string[] = []
  const ns = await run(['ip', '-j', 'netns', 'list'])
  for (const { name } of (ns.stdout.trim() ? JSON.parse(ns.stdout) : []) as { name: string }[]) {
    if (name.startsWith(prefix)) found.push(`namespace ${name}`)
  }
  if (existsSync('/sys/fs/bpf/weft')) {
    for (const d of readdirSync('/sys/fs/bpf/weft')) if (d.startsWith(prefix)) found.push(`pins ${d}`)
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = (await Bun.file(`/proc/${pid}/cmdline`).text()).split('\0')
      if (cmd.includes('agent') && cmd.some((a) => a.startsWith(`${prefix}-`))) found.push(`process ${pid}: ${cmd.join(' ')}`)
    } catch {}
  }
  if (existsSync(`/run/weft-demo/${prefix}`)) found.push(`state /run/weft-demo/${prefix}`)
  return found
}

describe(`weft demo (${DATAPATH} datapath)`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-demo-test-'))
  const prefixes: string[] = []
  let prefix = ''

  beforeAll(() => {
    requireRoot()
    copyFileSync(WEFT, join(dir, 'weft'))
  })

  afterAll(async () => {
    // if a demo failed half-way, remove what it recorded (by its own --down)
    for (const p of prefixes) if ((await leftovers(p)).length) await run([join(dir, 'weft'), 'demo', '--down'])
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  test('runs from a copy of the binary, pings across hosts, exits 0 and leaves nothing behind', async () => {
    const bin = join(dir, 'weft')
    const proc = Bun.spawn([bin, 'demo', '--datapath', DATAPATH], {
      cwd: dir,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env: { ...process.env, NO_COLOR: '1' },
    })
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited])
    prefix = /\(datapath \w+, run (wd[0-9a-f]{4})\)/.exec(out)?.[1] ?? ''
    prefixes.push(prefix)
    if (code !== 0) console.log(out, err)
    expect(prefix).toMatch(/^wd[0-9a-f]{4}$/)
    expect({ code, err }).toEqual({ code: 0, err: '' })
    // numbered steps, each with its timing
    for (let i = 1; i <= 10; i++) expect(out).toContain(`[${i}/10] `)
    expect(out.match(/✓ \d+(\.\d+)? m?s/g)?.length).toBe(10)
    // the views it shows along the way
    expect(out).toContain('NETWORK ID     NAME      DRIVER    SCOPE')
    expect(out).toMatch(/"com\.docker\.network\.driver\.overlay\.vxlanid_list": "256"/)
    expect(out).toMatch(/VNI\s+NETWORK\s+RX PACKETS/)
    // the ping across hosts, with ping's own summary
    expect(out).toMatch(new RegExp(`${prefix}-c1 \\(on ${prefix}-h1\\) -> 10\\.0\\.0\\.3 \\(in ${prefix}-c2 on ${prefix}-h2\\)`))
    expect(out).toMatch(/reply {2}1 from 10\.0\.0\.3 +[\d.]+ ms/)
    expect(out).toMatch(/10 packets transmitted, 10 received, 0% packet loss/)
    expect(out).toContain('nothing left behind')
    expect(await leftovers(prefix)).toEqual([])
  }, 120_000)

  test('--keep leaves it running with commands to try; --down removes everything', async () => {
    const bin = join(dir, 'weft')
    const kept = await run([bin, 'demo', '--keep', '--datapath', DATAPATH])
    const p = /\(datapath \w+, run (wd[0-9a-f]{4})\)/.exec(kept.stdout)?.[1] ?? ''
    prefixes.push(p)
    expect(kept.code).toBe(0)
    expect(kept.stdout).toContain(`${bin} --host unix:///run/weft-demo/${p}/h1.sock network ls`)
    expect(kept.stdout).toContain(`ip netns exec ${p}-c1 ping 10.0.0.3`)
    expect(kept.stdout).toContain(`${bin} demo --down`)
    // still running: the printed command works
    const ls = await run([bin, '--host', `unix:///run/weft-demo/${p}/h1.sock`, 'network', 'ls', '-q'])
    expect(ls.code).toBe(0)
    expect(ls.stdout.trim()).toMatch(/^[0-9a-f]{12}$/)
    expect((await leftovers(p)).length).toBeGreaterThan(0)
    const down = await run([bin, 'demo', '--down'])
    expect(down.code).toBe(0)
    expect(down.stdout).toContain(`done: nothing of ${p} is left`)
    expect(await leftovers(p)).toEqual([])
  }, 120_000)

  test('Ctrl-C half-way removes everything it had made', async () => {
    const bin = join(dir, 'weft')
    const proc = Bun.spawn([bin, 'demo', '--datapath', DATAPATH], { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe', env: { ...process.env, NO_COLOR: '1' } })
    let out = ''
    const decoder = new TextDecoder()
    const reader = proc.stdout.getReader()
    // interrupt once the agents run and the network is being made
    const deadline = Date.now() + 60_000
    while (!out.includes('[6/10]') && Date.now() < deadline) {
      const { value, done } = await reader.read()
      if (done) break
      out += decoder.decode(value, { stream: true })
    }
    const p = /\(datapath \w+, run (wd[0-9a-f]{4})\)/.exec(out)?.[1] ?? ''
    prefixes.push(p)
    expect(out).toContain('[6/10]')
    expect((await leftovers(p)).length).toBeGreaterThan(0)
    proc.kill('SIGINT')
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      out += decoder.decode(value, { stream: true })
    }
    const code = await proc.exited
    const err = await new Response(proc.stderr).text()
    expect(code).toBe(130)
    expect(err.trim()).toBe('Error: interrupted: removed everything the demo had made')
    expect(out).toContain('nothing left behind')
    expect(await leftovers(p)).toEqual([])
  }, 120_000)
})
