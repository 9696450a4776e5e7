// RPS/RFS on a device inside one of the bench's namespaces (a diagnostic for reordering: with
// rps_cpus set, every packet of a flow entering that device is queued to one CPU's backlog,
// whichever CPU sent it: the one its hash picks (RPS), or the one where the flow's socket was
// last used by its process (RFS, rps_flow_cnt + the global net.core.rps_sock_flow_entries)).
// sysfs shows the devices of the namespace that mounted it, so the write happens in a private
// mount namespace with a sysfs of its own.
import { readFileSync, writeFileSync } from 'node:fs'
import { runInNs } from './procs.ts'
import { hostVethOf } from './cpu-split.ts'

export interface Steering {
  /** hex CPU mask for rps_cpus */
  mask: string
  /** RFS: rps_flow_cnt per receive queue (0 = plain RPS) */
  flowCnt: number
}

/** Parses `name:MASK` or `name:MASK:rfs` (a bench flag's value). */
export function parseSteering(flag: string, a: string): { name: string } & Steering {
  const m = /^([^:]+):([0-9a-fA-F]+)(:rfs)?$/.exec(a)
  if (!m)
    throw new Error(`--${flag} ${a}: use name:MASK or name:MASK:rfs (MASK a hex CPU mask, e.g. 3)`)
  return { name: m[1]!, mask: m[2]!, flowCnt: m[3] ? 4096 : 0 }
}

/** Sets rps_cpus (and rps_flow_cnt) of every receive queue of `dev` in `ns`; checks them read back. */
export async function setSteering(ns: string, dev: string, s: Steering): Promise<void> {
  if (!/^[A-Za-z0-9_.-]+$/.test(dev)) throw new Error(`device name ${dev}: not a plain name`)
  if (!/^[0-9a-f]+$/i.test(s.mask)) throw new Error(`rps mask ${s.mask}: use a hex CPU mask`)
  const script =
    `mount -t sysfs sysfs /sys && for q in /sys/class/net/${dev}/queues/rx-*; do ` +
    `echo ${s.mask} > $q/rps_cpus && echo ${s.flowCnt} > $q/rps_flow_cnt && ` +
    `echo "$(cat $q/rps_cpus) $(cat $q/rps_flow_cnt)"; done`
  const r = await runInNs(ns, ['unshare', '-m', '--propagation', 'private', 'sh', '-ec', script])
  if (r.code !== 0) throw new Error(`rps_cpus=${s.mask} on ${dev} in ${ns}: ${r.stderr.trim()}`)
  const rows = r.stdout.trim().split('\n').filter(Boolean)
  const ok = (row: string) => {
    const [mask, cnt] = row.split(' ')
    // rps_flow_cnt reads back rounded up to a power of two
    return (
      parseInt(mask!.replace(/,/g, ''), 16) === parseInt(s.mask, 16) &&
      (s.flowCnt === 0) === (Number(cnt) === 0)
    )
  }
  if (rows.length === 0 || !rows.every(ok))
    throw new Error(
      `steering on ${dev} in ${ns} reads back ${rows.join('; ')}, not ${s.mask} ${s.flowCnt}`,
    )
}

const SOCK_FLOW = '/proc/sys/net/core/rps_sock_flow_entries'

/** RFS needs the global socket flow table; returns a function that restores the old size. It
 * steers only devices with rps_flow_cnt set (the bench's own). */
export function enableSockFlowTable(entries = 32768): () => void {
  const was = readFileSync(SOCK_FLOW, 'utf8').trim()
  writeFileSync(SOCK_FLOW, String(entries))
  return () => writeFileSync(SOCK_FLOW, was)
}

export interface ColumnSteering extends Steering {
  name: string
  /** host: the endpoint veth's host end (where a container's packets enter the host);
   * endpoint: the container's own eth0 (where its ACKs and answers enter it) */
  side: 'host' | 'endpoint'
}

/** The `--host-rps` / `--ep-rps name:MASK[:rfs]` flags of a bench script, checked against its columns. */
export function parseColumnSteerings(
  flags: { 'host-rps': string[]; 'ep-rps': string[] },
  columns: string[],
): ColumnSteering[] {
  return (['host-rps', 'ep-rps'] as const).flatMap((flag) =>
    flags[flag].map((a) => {
      const s = parseSteering(flag, a)
      if (!columns.includes(s.name)) throw new Error(`--${flag} ${a}: no column named ${s.name}`)
      return { ...s, side: flag === 'host-rps' ? ('host' as const) : ('endpoint' as const) }
    }),
  )
}

/** Applies a column's steerings to the three containers of its setup; one line each on stderr. */
export async function applySteerings(
  name: string,
  s: {
    client: string
    local: { ns: string }
    remote: { ns: string }
    topo: { hosts: { ns: string }[] }
  },
  steerings: ColumnSteering[],
): Promise<void> {
  const hosts = [s.topo.hosts[0]!.ns, s.topo.hosts[0]!.ns, s.topo.hosts[1]!.ns]
  for (const st of steerings.filter((c) => c.name === name)) {
    for (const [i, ns] of [s.client, s.local.ns, s.remote.ns].entries()) {
      const [where, dev] =
        st.side === 'host' ? [hosts[i]!, await hostVethOf(ns, hosts[i]!)] : [ns, 'eth0']
      await setSteering(where, dev, st)
      process.stderr.write(
        `${name}: ${st.flowCnt ? 'RFS' : 'RPS'} ${st.mask} on ${dev} (${where})\n`,
      )
    }
  }
}
