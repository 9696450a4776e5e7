// `weft demo --docker` from a copy of the built binary: two real dockerd hosts in namespaces,
// `docker network create -d weft` on one, the network in the other's `docker network ls`, a
// container per host, a ping across; exits 0 and leaves nothing (namespaces, pins, agents,
// dockerd/containerd/shims/containers, mount-namespace holders, cgroups, files). --keep and
// --down remove the same. Needs root, BPF, docker.io and busybox-static.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requireDocker, requireRoot, run } from '../harness/index.ts'
import { WEFT } from '../agent/agents.ts'

/** Everything of one demo run that still exists. */
async function leftovers(prefix: string): Promise<string[]> {
  const found: string[] = []
  const ns = await run(['ip', '-j', 'netns', 'list'])
  for (const { name } of (ns.stdout.trim() ? JSON.parse(ns.stdout) : []) as { name: string }[]) {
    if (name.startsWith(prefix)) found.push(`namespace ${name}`)
  }
  if (existsSync('/sys/fs/bpf/weft'))
    for (const d of readdirSync('/sys/fs/bpf/weft'))
      if (d.startsWith(prefix)) found.push(`pins ${d}`)
  const dir = `/run/weft-demo/${prefix}`
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      if (
        cmd.includes(dir) ||
        cmd.includes(`${prefix}-`) ||
        readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(dir)
      ) {
        found.push(`process ${pid}: ${cmd.split('\0').join(' ')}`)
      }
    } catch {}
  }
  const cg = '/sys/fs/cgroup'
  for (const root of existsSync(join(cg, 'cgroup.procs'))
    ? [cg]
    : readdirSync(cg).map((c) => join(cg, c))) {
    for (const h of [1, 2])
      if (existsSync(join(root, `weft-demo-${prefix}-h${h}`)))
        found.push(`cgroup ${join(root, `weft-demo-${prefix}-h${h}`)}`)
  }
  if (existsSync(dir)) found.push(`state ${dir}`)
  return found
}

describe('weft demo --docker', () => {
  const dir = mkdtempSync(join(tmpdir(), 'weft-demo-docker-'))
  const bin = join(dir, 'weft')
  const prefixes: string[] = []

  beforeAll(() => {
    requireRoot()
    requireDocker()
    copyFileSync(WEFT, bin)
  })

  afterAll(async () => {
    for (const p of prefixes) if ((await leftovers(p)).length) await run([bin, 'demo', '--down'])
    rmSync(dir, { recursive: true, force: true })
    for (const p of prefixes) expect(await leftovers(p)).toEqual([])
  }, 120_000)

  test('docker network create on host 1 shows on host 2, containers ping across, nothing is left', async () => {
    const r = await run([bin, 'demo', '--docker'])
    const prefix = /\(datapath \w+, docker, run (wd[0-9a-f]{4})\)/.exec(r.stdout)?.[1] ?? ''
    prefixes.push(prefix)
    if (r.code !== 0) console.log(r.stdout, r.stderr)
    expect({ code: r.code, err: r.stderr }).toEqual({ code: 0, err: '' })
    for (let i = 1; i <= 11; i++) expect(r.stdout).toContain(`[${i}/11] `)
    expect(r.stdout).toContain('network create -d weft --ipam-driver weft --label')
    expect(r.stdout).toMatch(/[0-9a-f]{12} {3}demo {6}weft {6}local/) // host 2's docker network ls
    expect(r.stdout).toMatch(/bbox1: eth0 10\.0\.0\.2/)
    expect(r.stdout).toMatch(/10 packets transmitted, 10 received, 0% packet loss/)
    expect(r.stdout).toContain('nothing left behind')
    expect(await leftovers(prefix)).toEqual([])
  }, 120_000)

  test('--keep leaves the dockerd hosts running with commands to try; --down removes them', async () => {
    const kept = await run([bin, 'demo', '--docker', '--keep'])
    const p = /\(datapath \w+, docker, run (wd[0-9a-f]{4})\)/.exec(kept.stdout)?.[1] ?? ''
    prefixes.push(p)
    expect(kept.code).toBe(0)
    const cmd = /^ {2}(nsenter .* exec bbox2 ping 10\.0\.0\.2)$/m.exec(kept.stdout)?.[1]
    expect(cmd).toBeDefined()
    // the printed command works while it runs
    const ping = await run([...cmd!.replace('ping 10.0.0.2', 'ping -c 1 -W 1 10.0.0.2').split(' ')])
    expect(ping.code).toBe(0)
    const down = await run([bin, 'demo', '--down'])
    expect(down.code).toBe(0)
    expect(down.stdout).toContain(`done: nothing of ${p} is left`)
    expect(await leftovers(p)).toEqual([])
  }, 120_000)
})
