// A first bpf datapath start that fails leaves nothing (issue 11.11): the object is rejected
// by the verifier (build/bpf/reject.o), or UDP 4789 is held so wfgro cannot come up. No pin
// directory, no wfgro (not even DOWN), no nft table remain; then a good object starts and the
// datapath's own teardown removes all again. Real BPF, in a namespace of the harness.
import { afterAll, beforeAll, expect, test } from 'bun:test'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import {
  createTopology,
  mustRunIn,
  requireRoot,
  runIn,
  spawnIn,
  waitFor,
  type Host,
  type Topology,
} from '../harness/index.ts'

const ROOT = join(import.meta.dir, '..', '..')
const START = join(import.meta.dir, 'fixtures', 'start-bpf.ts')
const object = (name: string) => join(ROOT, 'build', 'bpf', `${name}.o`)

let topo: Topology
let h: Host

beforeAll(async () => {
  requireRoot()
  for (const o of ['reject', 'vxlan'])
    if (!existsSync(object(o))) throw new Error(`${object(o)} is missing: run \`npm run build\``)
  topo = await createTopology({ hosts: 1 })
  h = topo.hosts[0]!
}, 60_000)

afterAll(async () => {
  await topo?.destroy()
}, 60_000)

const start = (name: string) =>
  runIn(h.ns, [process.execPath, START, h.node, h.underlay.ip, object(name)])

async function whatIsThere() {
  const pinDir = `/sys/fs/bpf/weft/${h.node}`
  const links = JSON.parse((await mustRunIn(h.ns, ['ip', '-j', 'link', 'show'])).stdout) as {
    ifname: string
  }[]
  return {
    pins: existsSync(pinDir) ? readdirSync(pinDir) : null,
    links: links.map((l) => l.ifname).filter((n) => n.startsWith('wf')),
    nftTable: (await runIn(h.ns, ['nft', 'list', 'table', 'inet', 'weft'])).code === 0,
  }
}
const NOTHING = { pins: null, links: [], nftTable: false }

test('an object the verifier rejects: the failed first start leaves no pin directory', async () => {
  const r = await start('reject')
  expect(r.code).toBe(1)
  expect(r.stderr).toContain('start failed')
  expect(await whatIsThere()).toEqual(NOTHING)
}, 60_000)

test('UDP 4789 held: the failed first start leaves no pins and no DOWN wfgro', async () => {
  const holder = spawnIn(h.ns, [
    process.execPath,
    '-e',
    "await Bun.udpSocket({ hostname: '0.0.0.0', port: 4789 }); console.log('held'); setInterval(() => {}, 1e6)",
  ])
  topo.track(() => holder.stop(1000))
  await waitFor(() => holder.stdout().includes('held'), { what: 'UDP 4789 held' })
  const r = await start('vxlan')
  await holder.stop()
  expect(r.code).toBe(1)
  expect(r.stderr).toContain('wfgro')
  expect(await whatIsThere()).toEqual(NOTHING)
}, 60_000)

test('then a good start programs it, and its teardown removes it all', async () => {
  const r = await start('vxlan')
  expect(r.code).toBe(0)
  const there = await whatIsThere()
  expect(there.pins).toContain('vx_nets')
  expect(there.links).toEqual(['wfgro'])
  // the teardown runs in the host netns, through the module `weft agent --teardown` uses
  const down = await runIn(h.ns, [
    process.execPath,
    '-e',
    `const { teardownNode } = await import(${JSON.stringify(join(ROOT, 'src', 'datapath', 'teardown.ts'))}); console.log(JSON.stringify(await teardownNode({ node: ${JSON.stringify(h.node)}, advertise: ${JSON.stringify(h.underlay.ip)} })))`,
  ])
  expect(down.code).toBe(0)
  expect(JSON.parse(down.stdout)).toEqual([
    'bpf datapath: the underlay program (tcx link on ul0)',
    'bpf datapath: the GRO device wfgro (it held UDP port 4789)',
    `bpf datapath: the pins in /sys/fs/bpf/weft/${h.node}`,
  ])
  expect(await whatIsThere()).toEqual(NOTHING)
}, 60_000)
