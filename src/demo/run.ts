// `weft demo`: builds two hosts and two containers in network namespaces of its own (an
// underlay bridge in a namespace too; nothing in the root namespace), runs this same binary
// as the agent of each host, creates an overlay network, connects one container per host,
// pings across and shows the CLI's views and the per-VNI counters on the way. Everything is
// recorded in /run/weft-demo/<prefix>/state.json before it is made, and removed at the end,
// on Ctrl-C, on failure, or by `weft demo --down` after `--keep`.
import { randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs'
import { release } from 'node:os'
import { join } from 'node:path'
import type { CliContext } from '../cli/_context.ts'
import { CliError } from '../cli/_errors.ts'
import { sparkline, table } from '../cli/_format.ts'
import { createClient, apiTarget, type ApiClient } from '../cli/client.ts'
import { OutputClosedError } from '../cli/stdio.ts'
import { networkTable } from '../cli/network-ls.ts'
import { nodeTable } from '../cli/node-ls.ts'
import { statsTable } from '../cli/stats.ts'
import type { DockerNetwork, Endpoint, Node, VniStats } from '../cli/_types.ts'
import { alive, mustRunIn, nsPath, run, runIn, selfCommand, waitFor } from './_exec.ts'
import { createProgress, type Progress } from './progress.ts'
import { leftovers, PIN_ROOT, saveState, stateDir, teardown, type DemoState } from './state.ts'
import { lines } from '../util/lines.ts'
import { VXLAN_PORT } from '../net/index.ts'
import { DEMO_IMAGE, requireDockerParts, startDemoDocker, type DemoDocker } from './docker.ts'

export interface DemoOptions {
  datapath: 'bpf' | 'kernel'
  keep: boolean
  /** The same walkthrough with a real dockerd per host and the weft Docker plugin. */
  docker?: boolean
}

const UNDERLAY = (i: number) => `198.18.0.${i}` // RFC 2544 benchmark range, inside our namespaces only
const NETWORK = 'demo'
const KV_PORT = 8500

/** Ctrl-C / SIGTERM while the demo runs: everything is removed, then the command fails. */
export class InterruptedError extends CliError {
  override readonly exitCode = 130
  constructor() {
    super('interrupted: removed everything the demo had made')
  }
}

interface Host {
  index: number
  ns: string
  node: string
  ip: string
  socket: string
  client: ApiClient
}

export async function runDemo(ctx: CliContext, opts: DemoOptions): Promise<void> {
  const prefix = `wd${randomBytes(2).toString('hex')}`
  const dir = stateDir(prefix)
  const state: DemoState = {
    prefix,
    created: new Date().toISOString(),
    datapath: opts.datapath,
    namespaces: [],
    nodes: [],
    agents: [],
  }
  const docker = opts.docker === true
  const p = createProgress(ctx, (opts.keep ? 9 : 10) + (docker ? 1 : 0))
  const self = selfCommand()
  const weftCmd = self.length === 1 ? self[0]! : `${self.join(' ')}`

  // Ctrl-C at any point: stop waiting, remove everything, fail
  const abort = new AbortController()
  const aborted = new Promise<never>((_, reject) => {
    abort.signal.addEventListener('abort', () => reject(new InterruptedError()))
  })
  aborted.catch(() => {})
  const onSignal = () => abort.abort()
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const step = <T>(title: string, what: string, fn: () => Promise<T>) => Promise.race([p.step(title, what, fn), aborted])

  const t0 = performance.now()
  p.line(`weft demo: 2 hosts, 2 containers, 1 overlay network (datapath ${opts.datapath}${docker ? ', docker' : ''}, run ${prefix})`)
  p.line(`everything lives in network namespaces named ${prefix}-*; nothing is added to this host's own network`)

  const addNs = async (ns: string) => {
    state.namespaces.push(ns)
    saveState(state)
    const r = await run(['ip', 'netns', 'add', ns])
    if (r.code !== 0) throw new Error(`ip netns add ${ns}: ${r.stderr.trim()}`)
    await mustRunIn(ns, ['ip', 'link', 'set', 'lo', 'up'])
  }

  const hosts: Host[] = [1, 2].map((i) => {
    const socket = join(dir, `h${i}.sock`)
    return {
      index: i,
      ns: `${prefix}-h${i}`,
      node: `${prefix}-h${i}`,
      ip: UNDERLAY(i),
      socket,
      client: createClient(apiTarget(`unix://${socket}`)),
    }
  })
  const h1 = hosts[0]!
  const h2 = hosts[1]!
  const containers = docker ? (['bbox1', 'bbox2'] as const) : ([`${prefix}-c1`, `${prefix}-c2`] as const)
  const dockers: DemoDocker[] = []
  const hostFlag = (h: Host) => `--host unix://${h.socket}`
  let failed: unknown
  let ips: string[] = []

  try {
    saveState(state)
    await step('Check this machine', 'root, iproute2 and nsenter present; kernel and bpffs for the datapath', async () => {
      await preflight(opts.datapath, p)
      if (docker) {
        requireDockerParts()
        p.info('docker.io (dockerd, containerd, /usr/bin/docker) and busybox-static present; no dockerd of yours is used')
      }
    })

    await step(
      'Build the underlay',
      `namespace ${prefix}-ul holds a bridge (br0): the "switch" the two hosts are plugged into`,
      async () => {
        await addNs(`${prefix}-ul`)
        await mustRunIn(`${prefix}-ul`, ['ip', 'link', 'add', 'br0', 'type', 'bridge'])
        await mustRunIn(`${prefix}-ul`, ['ip', 'link', 'set', 'br0', 'up'])
      },
    )

    await step(
      'Build two hosts',
      `namespaces ${h1.ns} and ${h2.ns}, each with a NIC ul0 on the bridge: ${h1.ip} and ${h2.ip}`,
      async () => {
        for (const h of hosts) {
          await addNs(h.ns)
          state.nodes.push(h.node)
          saveState(state)
          const port = `p${h.index}`
          await mustRunIn(`${prefix}-ul`, ['ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', 'ul0', 'netns', h.ns])
          await mustRunIn(`${prefix}-ul`, ['ip', 'link', 'set', port, 'master', 'br0', 'up'])
          await mustRunIn(h.ns, ['ip', 'addr', 'add', `${h.ip}/24`, 'dev', 'ul0'])
          await mustRunIn(h.ns, ['ip', 'link', 'set', 'ul0', 'up'])
        }
        await waitFor(
          async () => (await runIn(h1.ns, ['ping', '-c', '1', '-W', '1', h2.ip])).code === 0,
          `${h1.ns} to reach ${h2.ip} on the underlay`,
          10_000,
        )
        p.info(`underlay ok: ${h1.ns} reaches ${h2.ip}`)
      },
    )

    if (docker) {
      await step(
        'Start Docker on each host',
        'a dockerd (with its own containerd, data root and API socket, in a private mount namespace) per host; its /run/docker/plugins is where the weft agent serves the plugin',
        async () => {
          for (const h of hosts) {
            state.docker ??= []
            const d = await startDemoDocker({
              ns: h.ns,
              dir: join(dir, `h${h.index}-docker`),
              dns: h.ip, // inside the demo's namespaces: no query leaves the machine
              cgroupParent: `weft-demo-${prefix}-h${h.index}`,
              save: (rec) => {
                const i = state.docker!.findIndex((x) => x.ns === rec.ns)
                if (i < 0) state.docker!.push(rec)
                else state.docker![i] = rec
                saveState(state)
              },
            })
            dockers.push(d)
            p.info(`${h.ns}: dockerd pid ${d.record.pids[2]}, API unix://${d.record.socket}, image ${DEMO_IMAGE}`)
          }
        },
      )
    }
    const dockerArgs = (h: Host) => {
      const d = dockers[h.index - 1]
      return d ? ['--docker', `unix://${d.record.socket}`, '--docker-plugin-socket', d.pluginSocket] : []
    }
    const dockerFlag = (h: Host) => `-H unix://${dockers[h.index - 1]?.record.socket}`

    // each host its own data dir, as on real hosts: host 1's holds the cluster's CA and join token
    const dataDir = (h: Host) => join(dir, `data-h${h.index}`)
    const startAgent = async (h: Host, storeArgs: string[], env: Record<string, string> = {}) => {
      const args = [
        ...self, 'agent', '--name', h.node, '--advertise', h.ip, '--datapath', opts.datapath,
        '--data', dataDir(h), '--api', `unix://${h.socket}`, '--ttl', '5s', ...storeArgs, ...dockerArgs(h),
      ]
      const logPath = join(dir, `h${h.index}.log`)
      const fd = openSync(logPath, 'a')
      const proc = Bun.spawn(['nsenter', `--net=${nsPath(h.ns)}`, ...args], {
        stdin: 'ignore',
        stdout: fd,
        stderr: fd,
        detached: true, // own session: Ctrl-C reaches the demo, which stops the agents in order
        env: { ...process.env, ...env },
      })
      closeSync(fd)
      proc.unref()
      state.agents.push({ node: h.node, ns: h.ns, pid: proc.pid, socket: h.socket })
      saveState(state)
      const envShown = Object.keys(env).map((k) => `${k}=$(cat ${join(dataDir(h1), 'join-token')}) `).join('')
      p.info(`$ ${envShown}nsenter --net=${nsPath(h.ns)} weft agent --name ${h.node} --advertise ${h.ip} --datapath ${opts.datapath} ${[...storeArgs, ...dockerArgs(h)].join(' ')}`)
      p.info(`pid ${proc.pid}, log ${logPath}`)
      const logTail = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8').trim().split('\n').slice(-8).join('\n') : '')
      await waitFor(
        async () => {
          if (!alive(proc.pid)) throw new Error(`the agent on ${h.ns} exited:\n${logTail()}`)
          return (await h.client.get('/healthz').then(() => true, (e) => e instanceof CliError && e.status !== undefined))
        },
        `the agent on ${h.ns} to answer on ${h.socket}`,
        20_000,
      )
    }

    await step(
      'Start the agent of host 1',
      `the same binary, run inside ${h1.ns}; it also serves the cluster store (Consul API over TLS) on ${h1.ip}:${KV_PORT}`,
      async () => {
        await startAgent(h1, ['--store', 'embedded', '--kv-listen', `${h1.ip}:${KV_PORT}`])
        p.info(`it made the cluster's CA and join token (${join(dataDir(h1), 'join-token')}, mode 0600): every store request needs it`)
      },
    )

    await step(
      'Start the agent of host 2',
      `inside ${h2.ns}, joining host 1's store with its join token: --store consul://${h1.ip}:${KV_PORT}, the token in $WEFT_JOIN_TOKEN (not on the command line, where ps shows it)`,
      async () => {
        const joinToken = readFileSync(join(dataDir(h1), 'join-token'), 'utf8').trim()
        await startAgent(h2, ['--store', `consul://${h1.ip}:${KV_PORT}`], { WEFT_JOIN_TOKEN: joinToken })
        let nodes: Node[] = []
        await waitFor(
          async () => (nodes = await h1.client.get<Node[]>('/v1/nodes')).filter((n) => n.alive).length === 2,
          'both nodes to register',
          20_000,
        )
        p.shell(`weft ${hostFlag(h1)} node ls`, nodeTable(nodes))
      },
    )

    const net = await step(
      'Create an overlay network',
      docker
        ? `docker network create -d weft --ipam-driver weft on host 1 only: "${NETWORK}" (on weft's default subnet) is written to the store, and every host's agent makes it appear in its own dockerd`
        : `"${NETWORK}" on the default subnet: written once to the store, every host picks it up and programs its datapath`,
      async () => {
        if (docker) {
          const args = ['network', 'create', '-d', 'weft', '--ipam-driver', 'weft', '--label', `demo=${prefix}`, NETWORK]
          p.shell(`docker ${dockerFlag(h1)} ${args.join(' ')}`, await dockers[0]!.mustDocker(args))
          let ls = ''
          await waitFor(async () => (ls = (await dockers[1]!.docker(['network', 'ls', '--filter', 'driver=weft'])).stdout).includes(NETWORK), `host 2's docker to list ${NETWORK}`, 10_000)
          p.shell(`docker ${dockerFlag(h2)} network ls --filter driver=weft`, ls.trimEnd())
          p.info('nobody typed anything on host 2: its agent made the network appear in its own dockerd (scope local: each dockerd has its own copy)')
        }
        const n = docker
          ? await h1.client.get<DockerNetwork>(`/v1/networks/${NETWORK}`)
          : await h1.client.post<DockerNetwork>('/v1/networks', { name: NETWORK, labels: { demo: prefix } })
        if (!docker) p.shell(`weft ${hostFlag(h1)} network create -d overlay ${NETWORK}`, n.Id)
        // host 2 sees it through the store
        let seen: DockerNetwork[] = []
        await waitFor(async () => (seen = await h2.client.get<DockerNetwork[]>('/v1/networks')).some((x) => x.Id === n.Id), `host 2 to see ${NETWORK}`, 10_000)
        p.shell(`weft ${hostFlag(h2)} network ls`, networkTable(seen))
        p.info(`subnet ${n.IPAM.Config[0]?.Subnet}, VNI ${n.Options['com.docker.network.driver.overlay.vxlanid_list']}, gateway ${n.IPAM.Config[0]?.Gateway}, MTU ${n.Options['com.docker.network.driver.mtu']}`)
        return n
      },
    )

    await step(
      docker ? 'Run one container per host' : 'Connect one container per host',
      docker
        ? `docker run --network ${NETWORK} on each host: the weft plugin hands dockerd a veth end (eth0 in the container), addresses come from weft`
        : `containers ${containers[0]} and ${containers[1]} are empty namespaces; each agent plugs a veth (eth0) into its own`,
      async () => {
        for (const [i, h] of hosts.entries()) {
          const c = containers[i]!
          if (docker) {
            const args = ['run', '-d', '--network', NETWORK, '--name', c, DEMO_IMAGE, 'sleep', 'infinity']
            p.shell(`docker ${dockerFlag(h)} ${args.join(' ')}`, (await dockers[i]!.mustDocker(args)).slice(0, 12))
            const ip = await dockers[i]!.mustDocker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${NETWORK}").IPAddress}}`, c])
            p.info(`${c}: eth0 ${ip}, address from weft's cluster-wide IPAM`)
            ips.push(ip)
            continue
          }
          await addNs(c)
          const ep = await h.client.post<Endpoint>(`/v1/networks/${NETWORK}/connect`, { sandbox: c })
          p.shell(`weft ${hostFlag(h)} network connect ${NETWORK} ${c}`, `${ep.name} ${ep.ip} ${ep.mac} ${ep.ifname} on ${ep.node} (${ep.status})`)
          ips.push(ep.ip)
        }
        const inspect = await h1.client.get<DockerNetwork>(`/v1/networks/${NETWORK}`)
        p.shell(`weft ${hostFlag(h1)} network inspect ${NETWORK}`, JSON.stringify([inspect], null, 4))
      },
    )

    const vni = Number(net.Options['com.docker.network.driver.overlay.vxlanid_list'])
    const [from, to] = [containers[0], ips[1]!]
    // a container's network namespace: an ip-netns name, or the docker container's init process
    const fromNs = docker ? `/proc/${await dockers[0]!.mustDocker(['inspect', '-f', '{{.State.Pid}}', from])}/ns/net` : nsPath(from)
    await step(
      'Ping across hosts',
      `${from} (on ${h1.ns}) -> ${to} (in ${containers[1]} on ${h2.ns}): ICMP inside VXLAN (UDP ${VXLAN_PORT}, VNI ${vni}) over the underlay`,
      async () => {
        await waitFor(async () => (await run(['nsenter', `--net=${fromNs}`, 'ping', '-c', '1', '-W', '1', to])).code === 0, `a first reply from ${to}`, 15_000, 200)
        if (docker) p.shell(`docker ${dockerFlag(h1)} exec ${from} ping -c 1 ${to}`, (await dockers[0]!.mustDocker(['exec', from, 'ping', '-c', '1', to])).split('\n').slice(0, 2).join('\n'))
        await pingChart(p, h1.client, vni, fromNs, docker ? `docker exec ${from}` : `ip netns exec ${from}`, to)
      },
    )

    await step(
      'Per-VNI counters',
      'packets and bytes each host put into (TX) and took out of (RX) the overlay, and drops by reason',
      async () => {
        for (const h of hosts) {
          const s = await h.client.get<VniStats[]>('/v1/stats')
          p.shell(`weft ${hostFlag(h)} stats`, statsTable(s))
        }
      },
    )

    if (opts.keep) {
      state.info = { network: NETWORK, c1: containers[0], c2: containers[1], ip1: ips[0]!, ip2: ips[1]! }
      saveState(state)
      p.line('')
      p.line(`The demo is up (${((performance.now() - t0) / 1000).toFixed(1)} s) and left running. Try:`)
      p.line('')
      const dockerCmds = docker
        ? [
          `nsenter --net=${nsPath(h2.ns)} ${'/usr/bin/docker'} ${dockerFlag(h2)} exec ${containers[1]} ping ${ips[0]}`,
          `nsenter --net=${nsPath(h1.ns)} ${'/usr/bin/docker'} ${dockerFlag(h1)} network inspect ${NETWORK}`,
          `nsenter --net=${nsPath(h2.ns)} ${'/usr/bin/docker'} ${dockerFlag(h2)} run --rm --network ${NETWORK} ${DEMO_IMAGE} ping -c 3 ${ips[0]}`,
        ]
        : []
      for (const cmd of [
        ...dockerCmds,
        `${weftCmd} ${hostFlag(h1)} network ls`,
        `${weftCmd} ${hostFlag(h1)} network inspect ${NETWORK}`,
        `${weftCmd} ${hostFlag(h2)} node ls`,
        `${weftCmd} ${hostFlag(h2)} stats --watch`,
        ...(docker
          ? []
          : [
            `ip netns exec ${containers[0]} ping ${ips[1]}`,
            `ip netns exec ${containers[1]} ping ${ips[0]}`,
            `ip netns exec ${containers[0]} ip addr show eth0`,
            `${weftCmd} ${hostFlag(h2)} network disconnect ${NETWORK} ${containers[1]}`,
          ]),
      ]) {
        p.line(`  ${cmd}`)
      }
      p.line('')
      p.line(`Agent logs: ${join(dir, 'h1.log')}, ${join(dir, 'h2.log')}`)
      p.line(`Remove everything: ${weftCmd} demo --down`)
      return
    }
  } catch (e) {
    failed = e
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  // not kept (or failed, or interrupted): remove everything, and check it is gone
  const teardownWhat = 'stop the agents by PID, delete the namespaces, remove the BPF pins and the state directory'
  const left = await p
    .step('Clean up', teardownWhat, async () => {
      const left = await teardown(state, (l) => p.info(l))
      if (left.length) throw new Error(`could not remove: ${left.join(', ')}`)
      p.info(`nothing left behind: no ${prefix}-* namespaces, no ${PIN_ROOT}/${prefix}-* pins, no agent${docker ? ', dockerd or container' : ''} processes`)
      return left
    })
    .catch(async (e) => {
      if (!failed) failed = e
      return leftovers(state)
    })
  if (failed) {
    // the reader went away (`weft demo | head`): cleaned up; stop without a word (exit 1)
    if (failed instanceof InterruptedError || failed instanceof OutputClosedError) throw failed
    const msg = (failed as Error).message ?? String(failed)
    throw new CliError(`the demo failed: ${msg}${left.length ? ` (left behind: ${left.join(', ')}; run \`weft demo --down\`)` : ''}`)
  }
  p.line('')
  p.line(`Done in ${((performance.now() - t0) / 1000).toFixed(1)} s: two containers on two hosts talked over a weft overlay network.`)
  p.line(`Run \`${weftCmd} demo${docker ? ' --docker' : ''} --keep\` to leave it running and try the CLI yourself.`)
}

async function preflight(datapath: 'bpf' | 'kernel', p: Progress): Promise<void> {
  if (process.getuid?.() !== 0) throw new CliError('weft demo needs root (it creates network namespaces): run it with sudo')
  for (const tool of [['ip', '-V'], ['nsenter', '--version'], ['ping', '-V']]) {
    const r = await run(tool)
    if (r.code !== 0 && r.code !== 2) throw new CliError(`${tool[0]} is missing: install iproute2, util-linux and iputils-ping`)
  }
  const facts = [`Linux ${release()}`]
  if (datapath === 'bpf') {
    const m = await run(['sh', '-c', 'grep -q " /sys/fs/bpf bpf " /proc/mounts'])
    if (m.code !== 0) throw new CliError('bpffs is not mounted at /sys/fs/bpf: mount -t bpf bpf /sys/fs/bpf (or use --datapath kernel)')
    facts.push('bpffs at /sys/fs/bpf')
  }
  p.info(`root, iproute2, nsenter, ping; ${facts.join(', ')}`)
}

/** Ten pings, a bar per reply (its RTT) as they come, and the VNI's packet rate sampled meanwhile. */
async function pingChart(p: Progress, client: ApiClient, vni: number, netnsPath: string, shown: string, to: string): Promise<void> {
  const count = 10
  p.info(`$ ${shown} ping -c ${count} -i 0.2 ${to}`)
  const proc = Bun.spawn(['nsenter', `--net=${netnsPath}`, 'ping', '-c', String(count), '-i', '0.2', '-W', '1', to], {
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  // sample the counters of host 1 while the pings run
  const rates: number[] = []
  let sampling = true
  const sampler = (async () => {
    let prev: { n: number; t: number } | undefined
    while (sampling) {
      const s = (await client.get<VniStats[]>('/v1/stats').catch(() => [])).find((v) => v.vni === vni)
      const n = s ? Number(s.txPackets) + Number(s.rxPackets) : 0
      const t = performance.now()
      if (prev) rates.push(((n - prev.n) * 1000) / (t - prev.t))
      prev = { n, t }
      await Bun.sleep(250)
    }
  })()
  const rtts: number[] = []
  let summary = ''
  for await (const line of lines(proc.stdout)) {
    const m = /icmp_seq=(\d+) .*time=([\d.]+) ms/.exec(line)
    if (m) {
      const rtt = Number(m[2])
      rtts.push(rtt)
      const bar = '█'.repeat(Math.max(1, Math.min(40, Math.round(rtt * 40))))
      p.info(`reply ${m[1]!.padStart(2)} from ${to}  ${rtt.toFixed(3).padStart(7)} ms  ${bar}`)
    } else if (/packets transmitted/.test(line) || /^rtt /.test(line)) {
      summary += `${line}\n`
    }
  }
  await proc.exited
  sampling = false
  await sampler
  for (const l of summary.trim().split('\n')) if (l) p.info(l)
  p.info(`bar: 1 mark = 25 µs of round-trip time; RTT trend ${sparkline(rtts)}`)
  if (rates.length) p.info(`VNI ${vni} packets/s on host 1 (sampled every 250 ms): ${sparkline(rates)} peak ${Math.round(Math.max(...rates))}/s`)
  const received = rtts.length
  if (received === 0) throw new CliError(`no replies from ${to}: the overlay does not forward (see the agent logs)`)
  p.info(table(['SENT', 'RECEIVED', 'LOSS'], [[String(count), String(received), `${Math.round(((count - received) / count) * 100)}%`]]))
}
