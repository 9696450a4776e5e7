// A two-host cluster with one connected container per host, for drift tests: break one thing
// weft made, then wait (at most 10 s, issue 12 item 3) for the repair counter to move and
// traffic to flow again. Real agents (dist/weft), real namespaces, real pings.
import { expect } from 'bun:test'
import { createTopology, ping, runIn, waitFor, type Topology } from '../harness/index.ts'
import { startAgents, type RunningAgent } from '../agent/agents.ts'

export const REPAIR_DEADLINE_MS = 10_000

export interface DriftRig {
  topo: Topology
  agents: RunningAgent[]
  network: { vni: number; subnet: string }
  /** The container on host 0 and on host 1 with their endpoints. */
  a: { ns: string; ip: string; id: string; hostIfname: string; mac: string }
  b: { ns: string; ip: string; id: string; hostIfname: string; mac: string }
  pinDir: string
  repairs(kind: string): Promise<number>
  /** Break something, then wait for the `kind` counter to move and a ping a -> b to answer. */
  expectRepair(
    kind: string,
    breakIt: () => Promise<void>,
    restored?: () => Promise<boolean>,
  ): Promise<void>
}

export async function createDriftRig(
  datapath: 'bpf' | 'kernel',
  subnet: string,
): Promise<DriftRig> {
  const topo = await createTopology({ hosts: 2, containersPerHost: 1 })
  try {
    const agents = await startAgents(topo, { datapath })
    const created = await agents[0]!.api('POST', '/v1/networks', { name: 'drift', subnet })
    expect(created.status).toBe(201)
    const connect = async (host: number) => {
      const ns = topo.hosts[host]!.containers[0]!.ns
      const r = await agents[host]!.api('POST', '/v1/networks/drift/connect', { sandbox: ns })
      expect(r).toMatchObject({ status: 201, body: { status: 'attached' } })
      return {
        ns,
        ip: r.body.ip as string,
        id: r.body.id as string,
        hostIfname: `wf${(r.body.id as string).slice(0, 10)}`,
        mac: r.body.mac as string,
      }
    }
    const a = await connect(0)
    const b = await connect(1)
    const reaches = () =>
      waitFor(async () => (await ping(a.ns, b.ip, { count: 1, timeoutMs: 500 })).received === 1, {
        what: `ping ${a.ip} -> ${b.ip}`,
        timeoutMs: REPAIR_DEADLINE_MS,
      })
    await reaches()
    const repairs = async (kind: string) => {
      const r = await agents[0]!.api('GET', '/metrics')
      const m = new RegExp(`^weft_repairs_total\\{kind="${kind}"\\} (\\d+)`, 'm').exec(
        String(r.body),
      )
      return m ? Number(m[1]) : 0
    }
    return {
      topo,
      agents,
      network: {
        vni: Number(created.body.Options['com.docker.network.driver.overlay.vxlanid_list']),
        subnet,
      },
      a,
      b,
      pinDir: `/sys/fs/bpf/weft/${topo.hosts[0]!.node}`,
      repairs,
      async expectRepair(kind, breakIt, restored) {
        const before = await repairs(kind)
        const t0 = Date.now()
        await breakIt()
        try {
          await waitFor(async () => (await repairs(kind)) > before, {
            what: `weft_repairs_total{kind="${kind}"} to move`,
            timeoutMs: REPAIR_DEADLINE_MS,
          })
          if (restored)
            await waitFor(restored, {
              what: `the ${kind} to be back`,
              timeoutMs: REPAIR_DEADLINE_MS,
            })
          await reaches()
          expect(Date.now() - t0).toBeLessThan(REPAIR_DEADLINE_MS)
        } catch (e) {
          const log = agents[0]!.proc.stderr().split('\n').slice(-15).join('\n')
          throw new Error(
            `${(e as Error).message}\nafter ${Date.now() - t0} ms; agent log:\n${log}`,
          )
        }
      },
    }
  } catch (e) {
    await topo.destroy()
    throw e
  }
}

/** Run in host 0's namespace and require success. */
export async function onHost(rig: DriftRig, cmd: string[]): Promise<string> {
  const r = await runIn(rig.topo.hosts[0]!.ns, cmd)
  if (r.code !== 0) throw new Error(`${cmd.join(' ')}: ${r.stderr}`)
  return r.stdout
}

export async function inSandbox(ns: string, cmd: string[]): Promise<string> {
  const r = await runIn(ns, cmd)
  if (r.code !== 0) throw new Error(`${cmd.join(' ')} in ${ns}: ${r.stderr}`)
  return r.stdout
}
