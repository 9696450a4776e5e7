// An upstream resolver for the tests: dnsmasq (Debian's dnsmasq-base) in its own namespace
// on the test's underlay, answering a few fixed names and refusing everything else, so no
// forwarded query ever leaves the test's namespaces. Its query log says what reached it.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  mustRunIn,
  run,
  spawnIn,
  waitFor,
  type NsProcess,
  type Topology,
} from '../harness/index.ts'

export const DNSMASQ = '/usr/sbin/dnsmasq'

export interface Upstream {
  ip: string
  ns: string
  /** A resolv.conf naming only this resolver (for `weft agent --resolv-conf`). */
  resolvConf: string
  /** Names dnsmasq was asked about so far (lower case). */
  asked(): string[]
  proc: NsProcess
}

/** Start dnsmasq at `ip` (default 198.18.0.250) on the underlay answering `records` (name -> IPv4). */
export async function startUpstream(
  topo: Topology,
  records: Record<string, string>,
  ip = '198.18.0.250',
): Promise<Upstream> {
  if (!existsSync(DNSMASQ))
    throw new Error(`${DNSMASQ} is missing: install dnsmasq-base (scripts/setup.sh does)`)
  const ns = `${topo.prefix}-dns`
  const add = await run(['ip', 'netns', 'add', ns])
  if (add.code !== 0) throw new Error(`ip netns add ${ns}: ${add.stderr.trim()}`)
  const dir = mkdtempSync(join(tmpdir(), `weft-${topo.prefix}-dns-`))
  let proc: NsProcess | undefined
  topo.track(async () => {
    await proc?.stop(1000)
    await run(['ip', 'netns', 'del', ns])
    rmSync(dir, { recursive: true, force: true })
  })
  await mustRunIn(ns, ['ip', 'link', 'set', 'lo', 'up'])
  await mustRunIn(topo.underlayNs, [
    'ip',
    'link',
    'add',
    'pdns',
    'type',
    'veth',
    'peer',
    'name',
    'ul0',
    'netns',
    ns,
  ])
  await mustRunIn(topo.underlayNs, ['ip', 'link', 'set', 'pdns', 'master', 'br0', 'up'])
  await mustRunIn(ns, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'ul0'])
  await mustRunIn(ns, ['ip', 'link', 'set', 'ul0', 'up'])
  const resolvConf = join(dir, 'resolv.conf')
  writeFileSync(resolvConf, `# the test's upstream resolver (dnsmasq in ${ns})\nnameserver ${ip}\n`)
  proc = spawnIn(ns, [
    DNSMASQ,
    '--keep-in-foreground',
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    `--listen-address=${ip}`,
    '--bind-interfaces',
    '--pid-file',
    '--user=root',
    '--group=root',
    '--log-queries',
    '--log-facility=-',
    '--cache-size=0',
    ...Object.entries(records).map(([name, addr]) => `--host-record=${name},${addr}`),
  ])
  const up = proc
  await waitFor(
    async () =>
      (
        await run(['nsenter', `--net=/run/netns/${ns}`, 'ss', '-lnu', `sport = 53`])
      ).stdout.includes(`${ip}:53`),
    {
      what: `dnsmasq listening on ${ip}:53`,
      timeoutMs: 5000,
    },
  ).catch((e) => {
    throw new Error(`${e.message}\ndnsmasq stderr:\n${up.stderr()}`)
  })
  const asked = () =>
    [...(up.stdout() + up.stderr()).matchAll(/query\[[A-Z]+\] (\S+) from/g)].map((m) =>
      m[1]!.toLowerCase(),
    )
  return { ip, ns, resolvConf, asked, proc: up }
}
