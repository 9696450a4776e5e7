// Builds test topologies from network namespaces: N "hosts" joined by an underlay bridge
// that lives in its own namespace, and "containers" (empty namespaces) per host.
// Nothing is ever created in the root network namespace. Every name carries a per-run
// prefix; destroy() removes everything and fails if anything of this prefix leaked.
import { randomBytes } from 'node:crypto'
import { existsSync, readdirSync, rmdirSync, rmSync } from 'node:fs'
import { liveProcesses, mustRunIn, run, runIn, nsPath } from './exec.ts'

export interface UnderlayPort {
  ifname: string
  ip: string
  ifindex: number
  mtu: number
}

export interface Container {
  ns: string
  nsPath: string
}

export interface Host {
  /** netns name, also the weft node name (and so the pin dir name). */
  ns: string
  nsPath: string
  node: string
  underlay: UnderlayPort
  containers: Container[]
}

export interface TopologyOptions {
  hosts: number
  containersPerHost?: number
  /**
   * "Wire" underlay: 1500-byte frames on the underlay veths and GRO on receive, as two NICs
   * on a wire would (docs/DATAPATH-PITFALLS.md §1). Default false (veth offloads left on).
   */
  wire?: boolean
}

export interface Topology {
  prefix: string
  /** Namespace holding the underlay bridge. */
  underlayNs: string
  hosts: Host[]
  addContainer(hostIndex: number): Promise<Container>
  /** Register a cleanup step; steps run in reverse order in destroy(). */
  track(cleanup: () => unknown): void
  destroy(): Promise<void>
}

export const UNDERLAY_SUBNET = '198.18.0.0/24'
const BPF_PIN_ROOT = '/sys/fs/bpf/weft'
const ETC_NETNS = '/etc/netns'

/** Fails loudly (never skips) when the test cannot do what it needs. */
export function requireRoot(): void {
  if (process.getuid?.() !== 0) {
    throw new Error('this test builds network namespaces and loads BPF: run it as root')
  }
}

/** A short random per-run prefix: namespace names stay well under the 15-char ifname cap. */
export function newPrefix(): string {
  return 'wt' + randomBytes(2).toString('hex')
}

export async function createTopology(opts: TopologyOptions): Promise<Topology> {
  requireRoot()
  const prefix = newPrefix()
  const cleanups: (() => unknown)[] = []
  const namespaces: string[] = []
  const containerCount = new Map<number, number>()

  const addNs = async (name: string) => {
    const r = await run(['ip', 'netns', 'add', name])
    if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`)
    namespaces.push(name)
    await mustRunIn(name, ['ip', 'link', 'set', 'lo', 'up'])
  }

  const topo: Topology = {
    prefix,
    underlayNs: `${prefix}-ul`,
    hosts: [],
    async addContainer(hostIndex) {
      const host = topo.hosts[hostIndex]
      if (!host) throw new Error(`no host ${hostIndex}`)
      const n = (containerCount.get(hostIndex) ?? 0) + 1
      containerCount.set(hostIndex, n)
      const ns = `${host.ns}c${n}`
      await addNs(ns)
      const c = { ns, nsPath: nsPath(ns) }
      host.containers.push(c)
      return c
    },
    track(cleanup) {
      cleanups.push(cleanup)
    },
    async destroy() {
      const errors: string[] = []
      for (const fn of cleanups.reverse()) {
        try {
          await fn()
        } catch (e) {
          errors.push(`cleanup step failed: ${(e as Error).message}`)
        }
      }
      for (const p of liveProcesses()) await p.stop(500)
      removePins(prefix)
      removeEtcNetns(prefix)
      for (const ns of namespaces.reverse()) await run(['ip', 'netns', 'del', ns])
      errors.push(...(await leaks(prefix)))
      if (errors.length) throw new Error(`topology ${prefix} teardown:\n  ${errors.join('\n  ')}`)
    },
  }

  try {
    await addNs(topo.underlayNs)
    await mustRunIn(topo.underlayNs, ['ip', 'link', 'add', 'br0', 'type', 'bridge'])
    await mustRunIn(topo.underlayNs, ['ip', 'link', 'set', 'br0', 'up'])
    // The underlay bridge stands for a switch: no netfilter on it (br_netfilter's per-netns
    // default is 1 here; it would tax every frame of every mode alike, see docs/PERF-NOTES.md).
    await mustRunIn(topo.underlayNs, [
      'sysctl',
      '-qew',
      'net.bridge.bridge-nf-call-iptables=0',
      'net.bridge.bridge-nf-call-ip6tables=0',
      'net.bridge.bridge-nf-call-arptables=0',
    ])
    for (let i = 0; i < opts.hosts; i++) {
      const ns = `${prefix}-h${i + 1}`
      await addNs(ns)
      const port = `p${i + 1}`
      const ip = `198.18.0.${i + 1}`
      await mustRunIn(topo.underlayNs, [
        'ip',
        'link',
        'add',
        port,
        'type',
        'veth',
        'peer',
        'name',
        'ul0',
        'netns',
        ns,
      ])
      await mustRunIn(topo.underlayNs, ['ip', 'link', 'set', port, 'master', 'br0', 'up'])
      await mustRunIn(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'ul0'])
      await mustRunIn(ns, ['ip', 'link', 'set', 'ul0', 'up'])
      if (opts.wire) {
        // both ends of each underlay veth: a veth receiver aggregates (GRO) only what its
        // peer sent unsegmented-off, so TSO/GSO must be off on the bridge ports too
        await setWireMode(ns, 'ul0')
        await setWireMode(topo.underlayNs, port, false)
      }
      const link = JSON.parse((await mustRunIn(ns, ['ip', '-j', 'link', 'show', 'ul0'])).stdout)[0]
      topo.hosts.push({
        ns,
        nsPath: nsPath(ns),
        node: ns,
        underlay: { ifname: 'ul0', ip, ifindex: link.ifindex, mtu: link.mtu },
        containers: [],
      })
      for (let c = 0; c < (opts.containersPerHost ?? 0); c++) await topo.addContainer(i)
    }
  } catch (e) {
    await topo.destroy().catch(() => {})
    throw e
  }
  return topo
}

/**
 * Make a veth behave like a NIC on a wire: segment before the "wire" (no TSO/GSO), and
 * aggregate after it (GRO) on the host ends only; the bridge in between forwards frames.
 */
export async function setWireMode(ns: string, ifname: string, gro = true): Promise<void> {
  await mustRunIn(ns, [
    'ethtool',
    '-K',
    ifname,
    'tso',
    'off',
    'gso',
    'off',
    'tx-udp_tnl-segmentation',
    'off',
    'tx-udp_tnl-csum-segmentation',
    'off',
    'gro',
    gro ? 'on' : 'off',
  ])
}

function removePins(prefix: string): void {
  if (!existsSync(BPF_PIN_ROOT)) return
  for (const name of readdirSync(BPF_PIN_ROOT)) {
    if (name.startsWith(prefix)) rmSync(`${BPF_PIN_ROOT}/${name}`, { recursive: true, force: true })
  }
  // the shared parent goes too once the last topology is gone (a datapath re-creates it)
  try {
    rmdirSync(BPF_PIN_ROOT) // fails, harmlessly, while another run still has pins there
  } catch {}
}

/**
 * An agent stopped while its sandboxes are connected keeps the /etc/netns/<sandbox>/resolv.conf
 * it wrote (names resume when it is back), as it keeps its pins: remove this run's.
 */
function removeEtcNetns(prefix: string): void {
  if (!existsSync(ETC_NETNS)) return
  for (const name of readdirSync(ETC_NETNS)) {
    if (name.startsWith(prefix)) rmSync(`${ETC_NETNS}/${name}`, { recursive: true, force: true })
  }
}

/** Everything of this prefix that still exists: namespaces, pins, processes. */
export async function leaks(prefix: string): Promise<string[]> {
  const found: string[] = []
  const list = await run(['ip', '-j', 'netns', 'list'])
  const names: { name: string }[] = list.stdout.trim() ? JSON.parse(list.stdout) : []
  for (const { name } of names) if (name.startsWith(prefix)) found.push(`namespace ${name} leaked`)
  if (existsSync(BPF_PIN_ROOT)) {
    for (const name of readdirSync(BPF_PIN_ROOT)) {
      if (name.startsWith(prefix)) found.push(`pin dir ${BPF_PIN_ROOT}/${name} leaked`)
    }
  }
  for (const p of liveProcesses()) found.push(`process ${p.pid} still running`)
  return found
}

export { runIn }
