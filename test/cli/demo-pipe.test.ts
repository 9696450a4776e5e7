// `weft demo | head`: when the reader goes away half-way the demo stops at once, removes
// everything it had made, says nothing more, and exits 1 (not 0: the steps after the cut
// never ran). Run through bash the way a user types it. Datapath: WEFT_TEST_DATAPATH.
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, rmSync } from 'node:fs'
import { requireRoot, run } from '../harness/index.ts'
import { WEFT } from '../agent/agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'

/** What of one demo run still exists: namespaces, pins, agent processes, state. */
async function leftovers(prefix: string): Promise<string[]> {
  const found: string[] = []
  const ns = await run(['ip', '-j', 'netns', 'list'])
  for (const { name } of (ns.stdout.trim() ? JSON.parse(ns.stdout) : []) as { name: string }[]) {
    if (name.startsWith(`${prefix}-`)) found.push(`namespace ${name}`)
  }
  if (existsSync('/sys/fs/bpf/weft')) {
    for (const d of readdirSync('/sys/fs/bpf/weft'))
      if (d.startsWith(`${prefix}-`)) found.push(`pins ${d}`)
  }
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = (await Bun.file(`/proc/${pid}/cmdline`).text()).split('\0')
      if (cmd.includes('agent') && cmd.some((a) => a.startsWith(`${prefix}-`)))
        found.push(`process ${pid} ${cmd.join(' ')}`)
    } catch {}
  }
  if (existsSync(`/run/weft-demo/${prefix}`)) found.push(`state /run/weft-demo/${prefix}`)
  return found
}

describe(`weft demo | head (${DATAPATH} datapath)`, () => {
  const prefixes: string[] = []

  afterAll(async () => {
    // a run that left something behind: remove exactly that run's parts (`demo --down` would
    // also remove demos other people keep running)
    for (const p of prefixes.filter((x) => x)) {
      for (const thing of await leftovers(p)) {
        const [kind, what] = thing.split(' ') as [string, string]
        if (kind === 'process') process.kill(Number(what), 'SIGKILL')
        if (kind === 'namespace') await run(['ip', 'netns', 'del', what])
        if (kind === 'pins') rmSync(`/sys/fs/bpf/weft/${what}`, { recursive: true, force: true })
        if (kind === 'state') rmSync(what, { recursive: true, force: true })
      }
    }
  }, 60_000)

  test.each([5, 30])(
    'cut after %i lines: quiet exit 1, nothing left behind',
    async (n) => {
      requireRoot()
      const r = await run([
        'bash',
        '-c',
        `NO_COLOR=1 "$0" demo --datapath ${DATAPATH} 2>"$1" | head -n ${n}; echo "exit=\${PIPESTATUS[0]}"; cat "$1" >&2; rm -f "$1"`,
        WEFT,
        `/tmp/weft-demo-pipe-${process.pid}-${n}.err`,
      ])
      const out = r.stdout.split('\n')
      const prefix = /\(datapath \w+, run (wd[0-9a-f]{4})\)/.exec(r.stdout)?.[1] ?? ''
      prefixes.push(prefix)
      expect(prefix).toMatch(/^wd[0-9a-f]{4}$/)
      expect(out.slice(0, n).join('\n')).not.toContain('Done in')
      expect(out[n]).toBe('exit=1')
      expect(r.stderr).toBe('') // nothing to say, and nobody to say it to
      expect(await leftovers(prefix)).toEqual([])
    },
    90_000,
  )
})
