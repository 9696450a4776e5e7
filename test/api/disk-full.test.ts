// Disk full, for real: the agent (which also serves the embedded store) runs with its --data
// directory on a 1 MiB tmpfs, mounted in a mount namespace of its own (so nothing shows on
// the host and it goes when the agent does). Creating networks fills it; the answer is a
// clear 5xx (507 disk_full, saying where to free space), the agent logs it, /healthz says
// so, and the network that did not fit does not exist.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTopology, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, WEFT, type RunningAgent } from '../agent/agents.ts'

const DATAPATH = (process.env.WEFT_TEST_DATAPATH ?? 'bpf') as 'bpf' | 'kernel'
const TMPFS_SIZE = '1m'

/** `weft agent ARGS` with the --data directory on a small tmpfs in a private mount namespace. */
const wrapper = (weft: string) => `#!/bin/sh
data=; prev=
for a in "$@"; do [ "$prev" = --data ] && data=$a; prev=$a; done
[ -n "$data" ] || { echo "disk-full wrapper: no --data in: $*" >&2; exit 97; }
exec unshare --mount --propagation private sh -c 'mkdir -p "$0" && mount -t tmpfs -o size=${TMPFS_SIZE},mode=0700 weft-disk-full "$0" && exec "$@"' "$data" ${weft} "$@"
`

describe(`disk full (${DATAPATH} datapath)`, () => {
  let topo: Topology
  let agent: RunningAgent
  let dir = ''

  beforeAll(async () => {
    topo = await createTopology({ hosts: 1 })
    dir = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-full-`))
    topo.track(() => rmSync(dir, { recursive: true, force: true }))
    const script = join(dir, 'agent-on-tmpfs.sh')
    writeFileSync(script, wrapper(process.env.WEFT_AGENT_CMD?.trim() || WEFT))
    chmodSync(script, 0o755)
    const saved = process.env.WEFT_AGENT_CMD
    process.env.WEFT_AGENT_CMD = script // read once per agent, when startAgents builds its command
    try {
      agent = (await startAgents(topo, { datapath: DATAPATH }))[0]!
    } finally {
      if (saved === undefined) delete process.env.WEFT_AGENT_CMD
      else process.env.WEFT_AGENT_CMD = saved
    }
  }, 60_000)

  afterAll(async () => {
    await topo?.destroy()
  }, 60_000)

  test('a write that does not fit is 507 disk_full, logged, and leaves no network behind', async () => {
    const label = 'f'.repeat(200_000)
    let refused: { status: number; body: any } | undefined
    const created: string[] = []
    for (let i = 0; i < 20 && !refused; i++) {
      const r = await agent.api('POST', '/v1/networks', {
        name: `fill${i}`,
        labels: { fill: label },
      })
      if (r.status === 201) created.push(`fill${i}`)
      else refused = { ...r, body: { ...r.body, name: `fill${i}` } }
    }
    expect(created.length).toBeGreaterThan(0) // the tmpfs held something: the limit is the disk's
    expect(refused).toBeDefined()
    const { name, ...body } = refused!.body
    expect({ status: refused!.status, error: body.error }).toEqual({
      status: 507,
      error: 'disk_full',
    })
    expect(Object.keys(body).sort()).toEqual(['error', 'message'])
    expect(body.message).toMatch(
      /disk is full: free space in .*, then retry \(.*(SQLITE_FULL|disk is full|no space left)/i,
    )
    // The agent's stderr reaches us through a pipe, after the answer: poll it.
    await waitFor(() => /admin API 507/.test(agent.proc.stderr()), {
      what: 'the 507 in the agent log',
    })
    const names = (await agent.api('GET', '/v1/networks')).body.map((n: any) => n.Name)
    expect(names).toEqual(created)
    expect(names).not.toContain(name)
    const health = await agent.api('GET', '/healthz')
    expect(health.status).toBe(503)
    expect(health.body.disk).toEqual({
      full: true,
      since: expect.any(String),
      lastError: body.message,
    })
  }, 60_000)
})
