// Real Docker daemons inside a topology's host namespaces, one per host, isolated from any
// dockerd on the machine: own containerd, data/exec roots, -H socket, pidfile, config file,
// and a private mount namespace in which /run/docker (so /run/docker/plugins), /run/containerd
// and /etc/docker are per-daemon directories. Containers get a resolver inside the test's
// namespaces (--dns), and no iptables rules, bridge, NAT or forwarding are set up.
// The image comes from no registry: `docker import` of a busybox-static rootfs.
// Everything is stopped by PID and removed by stop(), which topo.destroy() calls too.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  copyFileSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { mustRunIn, runIn, spawnIn, type NsProcess, type RunResult } from './exec.ts'
import { findProcesses, isAlive, netnsIdOf, nsId, type ProcessInfo } from './processes.ts'
import type { Host, Topology } from './topology.ts'
import { waitFor } from './wait.ts'

/** Debian's docker.io client, matched to its 20.10 daemon (another `docker` may come first in PATH). */
export const DOCKER_CLI = '/usr/bin/docker'
/** The image every docker host has after start (busybox-static, imported, CMD sh). */
export const BUSYBOX_IMAGE = 'weft/busybox:latest'
const BUSYBOX = '/bin/busybox'
const NEEDED = [
  DOCKER_CLI,
  '/usr/sbin/dockerd',
  '/usr/bin/containerd',
  '/usr/bin/containerd-shim-runc-v2',
  BUSYBOX,
]
/** Mount points the private mount namespace covers; created empty in the root fs when missing. */
const PRIVATE_DIRS = {
  '/run/docker': 'run-docker',
  '/run/containerd': 'run-containerd',
  '/etc/docker': 'etc-docker',
} as const

export interface DockerHostOptions {
  /** dockerd --live-restore: containers keep running while dockerd is down. Default true. */
  liveRestore?: boolean
  /**
   * The resolver containers get (dockerd --dns). Must be an address inside the test's own
   * namespaces; Docker otherwise falls back to public resolvers. Default: the host's underlay IP.
   */
  dns?: string
  /** Import BUSYBOX_IMAGE after start (default true). */
  image?: boolean
  /** Extra dockerd flags. */
  dockerdArgs?: string[]
  /** How long dockerd may take to answer (default 30 s). */
  startTimeoutMs?: number
}

export interface DockerHost {
  host: Host
  /** Private directory holding everything of this daemon (removed by stop()). */
  dir: string
  /** dockerd's API socket (unix path). */
  socket: string
  /** Where the daemon's /run/docker/plugins lives, seen from the root mount namespace. */
  pluginsDir: string
  /** `/proc/PID/ns/mnt` of the private mount namespace (dockerd, containerd, spawnInMountNs). */
  mountNsPath: string
  /** The cgroup parent of this daemon's containers (one segment under each controller). */
  cgroupParent: string
  /** PID of the running dockerd (changes on restartDockerd()). */
  readonly dockerdPid: number
  /** Seconds dockerd took from spawn to answering its API, for each start. */
  readonly startSeconds: number[]
  /** Run the docker CLI against this daemon. */
  docker(args: string[], opts?: { stdin?: string }): Promise<RunResult>
  /** Like docker(), but throws with the command and its stderr when it fails; returns trimmed stdout. */
  mustDocker(args: string[], opts?: { stdin?: string }): Promise<string>
  /** PID of a running container's init process (for nsenter --net=/proc/PID/ns/net). */
  containerPid(name: string): Promise<number>
  /** Start a process in this host's netns and the daemon's mount namespace (e.g. a plugin). */
  spawnInMountNs(cmd: string[], opts?: { env?: Record<string, string> }): NsProcess
  /** Run a command in this host's netns and the daemon's mount namespace. */
  runInMountNs(cmd: string[], opts?: { stdin?: string }): Promise<RunResult>
  /** Stop dockerd (SIGTERM by PID; containers stay with live-restore) and start it again. */
  restartDockerd(): Promise<void>
  /** Stop dockerd only, by PID (containerd and, with live-restore, containers keep running). */
  stopDockerd(): Promise<void>
  /** Start dockerd again after stopDockerd(). */
  startDockerd(): Promise<void>
  /** Remove all containers, stop dockerd, containerd and the namespace holder, remove dir. */
  stop(): Promise<void>
}

/** Fails loudly when Docker's parts are not installed (never skips). */
export function requireDocker(): void {
  const missing = NEEDED.filter((p) => !existsSync(p))
  if (missing.length) {
    throw new Error(
      `docker tests need ${missing.join(', ')}: run scripts/setup.sh (installs docker.io, busybox-static)`,
    )
  }
}

/** Start a dockerd (with its own containerd) in topo.hosts[hostIndex]'s network namespace. */
export async function startDockerHost(
  topo: Topology,
  hostIndex: number,
  opts: DockerHostOptions = {},
): Promise<DockerHost> {
  requireDocker()
  const host = topo.hosts[hostIndex]
  if (!host) throw new Error(`startDockerHost: topology ${topo.prefix} has no host ${hostIndex}`)
  const dns = opts.dns ?? host.underlay.ip
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(dns) || dns.startsWith('127.')) {
    throw new Error(
      `startDockerHost: --dns must be an IPv4 address inside the test's namespaces, got "${dns}"`,
    )
  }
  // short: containerd's socket path must stay under the 108-byte unix limit
  const dir = mkdtempSync(`/tmp/wd-${host.ns}-`)
  const paths = {
    socket: join(dir, 'docker.sock'),
    containerdSocket: join(dir, 'containerd', 'containerd.sock'),
    containerdConfig: join(dir, 'containerd.toml'),
    daemonJson: join(dir, 'daemon.json'),
    pidfile: join(dir, 'docker.pid'),
    dataRoot: join(dir, 'data'),
    execRoot: join(dir, 'exec'),
    cliConfig: join(dir, 'cli'),
  }
  const cgroupParent = `weft-${host.ns}`
  for (const sub of [...Object.values(PRIVATE_DIRS), 'run-docker/plugins', 'containerd', 'cli']) {
    mkdirSync(join(dir, sub), { recursive: true })
  }
  writeFileSync(paths.daemonJson, '{}\n')
  writeFileSync(paths.containerdConfig, containerdConfig(dir, paths.containerdSocket))
  for (const mountPoint of Object.keys(PRIVATE_DIRS)) mkdirSync(mountPoint, { recursive: true })

  let holder: NsProcess | undefined
  let containerd: NsProcess | undefined
  let dockerd: NsProcess | undefined
  let stopped = false
  const startSeconds: number[] = []

  const inMountNs = (cmd: string[]) => [
    'nsenter',
    `--mount=/proc/${holder!.pid}/ns/mnt`,
    '--',
    ...cmd,
  ]
  const cli = (args: string[]) => [
    'env',
    `DOCKER_CONFIG=${paths.cliConfig}`,
    DOCKER_CLI,
    '-H',
    `unix://${paths.socket}`,
    ...args,
  ]

  const startDockerd = async () => {
    const t0 = performance.now()
    const proc = spawnIn(
      host.ns,
      inMountNs([
        'dockerd',
        '--data-root',
        paths.dataRoot,
        '--exec-root',
        paths.execRoot,
        '-H',
        `unix://${paths.socket}`,
        '--pidfile',
        paths.pidfile,
        '--config-file',
        paths.daemonJson,
        '--containerd',
        paths.containerdSocket,
        '--cgroup-parent',
        cgroupParent,
        '--dns',
        dns,
        // nothing added to the host namespace beyond what a container needs
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--ip-masq=false',
        '--ip-forward=false',
        '--userland-proxy=false',
        ...((opts.liveRestore ?? true) ? ['--live-restore'] : []),
        ...(opts.dockerdArgs ?? []),
      ]),
    )
    dockerd = proc
    await waitFor(
      async () => {
        if (!isAlive(proc.pid)) throw new Error(`dockerd exited: ${tail(proc.stderr())}`)
        return (
          (await runIn(host.ns, cli(['version', '--format', '{{.Server.Version}}']))).code === 0
        )
      },
      {
        what: `dockerd on ${host.ns} to answer on ${paths.socket}`,
        timeoutMs: opts.startTimeoutMs ?? 30_000,
        intervalMs: 20,
      },
    )
    startSeconds.push((performance.now() - t0) / 1000)
  }

  const stopDockerd = async () => {
    if (dockerd && isAlive(dockerd.pid)) await dockerd.stop(15_000)
  }

  const dh: DockerHost = {
    host,
    dir,
    socket: paths.socket,
    pluginsDir: join(dir, 'run-docker', 'plugins'),
    get mountNsPath() {
      return `/proc/${holder!.pid}/ns/mnt`
    },
    cgroupParent,
    get dockerdPid() {
      return dockerd!.pid
    },
    startSeconds,
    docker: (args, o) => runIn(host.ns, cli(args), o),
    async mustDocker(args, o) {
      const r = await runIn(host.ns, cli(args), o)
      if (r.code !== 0)
        throw new Error(
          `on ${host.ns}: \`docker ${args.join(' ')}\` exited ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`,
        )
      return r.stdout.trim()
    },
    async containerPid(name) {
      const pid = Number(await dh.mustDocker(['inspect', '-f', '{{.State.Pid}}', name]))
      if (!pid) throw new Error(`container ${name} on ${host.ns} is not running`)
      return pid
    },
    spawnInMountNs: (cmd, o) => spawnIn(host.ns, inMountNs(cmd), o),
    runInMountNs: (cmd, o) => runIn(host.ns, inMountNs(cmd), o),
    async restartDockerd() {
      await stopDockerd()
      await startDockerd()
    },
    stopDockerd,
    startDockerd,
    async stop() {
      if (stopped) return
      stopped = true
      const errors: string[] = []
      const step = async (what: string, fn: () => unknown) => {
        try {
          await fn()
        } catch (e) {
          errors.push(`${what}: ${(e as Error).message}`)
        }
      }
      if (dockerd && isAlive(dockerd.pid)) {
        await step('remove containers', async () => {
          const ids = (await dh.mustDocker(['ps', '-aq'])).split('\n').filter(Boolean)
          if (ids.length) await dh.mustDocker(['rm', '-f', '-v', ...ids])
        })
      }
      await step('stop dockerd', stopDockerd)
      await step('stop containerd', () => containerd?.stop(10_000))
      // shims exit once their container is deleted; anything still here is ours (it holds our
      // mount namespace, our directory or our cgroup), so it is ended by PID and reported
      await step('wait for shims and containers', async () => {
        try {
          await waitFor(() => ownProcesses().length === 0, {
            what: `processes of ${host.ns}'s docker to exit`,
            timeoutMs: 20_000,
          })
        } catch (e) {
          const left = ownProcesses()
          for (const p of left) process.kill(p.pid, 'SIGKILL')
          // a killed process leaves its cgroup only once it is reaped; rmdir before that is EBUSY
          await waitFor(() => left.every((p) => !isAlive(p.pid)), {
            what: `killed processes of ${host.ns}'s docker to be reaped`,
            timeoutMs: 5_000,
          })
          throw new Error(
            `${(e as Error).message}; killed ${left.map((p) => `${p.pid} (${p.cmdline})`).join(', ')}`,
          )
        }
      })
      await step('stop namespace holder', () => holder?.stop(2000))
      // the kernel drops an exited task from its cgroup a moment after the exit: EBUSY until then
      await step('remove cgroups', () =>
        waitFor(
          () => {
            removeCgroups(cgroupParent) // throws EBUSY while a task is still inside: polled again
            return true
          },
          { what: `${cgroupParent} cgroups to be empty`, timeoutMs: 5_000 },
        ),
      )
      await step('remove files', () => {
        const mounted = mountsUnder(dir)
        if (mounted.length)
          throw new Error(`still mounted, not removing ${dir}: ${mounted.join(', ')}`)
        rmSync(dir, { recursive: true, force: true })
      })
      if (errors.length) throw new Error(`docker host ${host.ns} stop:\n  ${errors.join('\n  ')}`)
    },
  }

  const ownProcesses = (): ProcessInfo[] => {
    const byMount =
      holder && isAlive(holder.pid) ? findProcesses({ mountNs: nsId(holder.pid, 'mnt') }) : []
    const mine = [...byMount, ...findProcesses({ cmdlineHas: dir, cgroup: cgroupParent })]
    const holderPid = holder?.pid
    return [...new Map(mine.filter((p) => p.pid !== holderPid).map((p) => [p.pid, p])).values()]
  }

  topo.track(() => dh.stop())
  try {
    // the holder keeps the private mount namespace alive across dockerd restarts
    const binds = Object.entries(PRIVATE_DIRS).map(
      ([at, sub]) => `mount --bind ${join(dir, sub)} ${at}`,
    )
    const h = spawnIn(host.ns, [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'sh',
      '-c',
      `set -e; ${binds.join('; ')}; echo ready; exec sleep infinity`,
    ])
    holder = h
    await waitFor(
      () => {
        if (!isAlive(h.pid) && !h.stdout().includes('ready'))
          throw new Error(`mount namespace setup failed: ${h.stderr().trim()}`)
        return h.stdout().includes('ready')
      },
      { what: `private mount namespace for ${host.ns}'s docker` },
    )
    containerd = spawnIn(host.ns, inMountNs(['containerd', '--config', paths.containerdConfig]))
    const cd = containerd
    await waitFor(
      () => {
        if (!isAlive(cd.pid)) throw new Error(`containerd exited: ${tail(cd.stderr())}`)
        return existsSync(paths.containerdSocket)
      },
      { what: `containerd on ${host.ns}`, timeoutMs: 15_000 },
    )
    await startDockerd()
    if (opts.image ?? true) await importBusybox(dh)
  } catch (e) {
    try {
      await dh.stop()
    } catch (stopErr) {
      throw new Error(
        `${(e as Error).message}\n(and cleaning up failed: ${(stopErr as Error).message})`,
      )
    }
    throw e
  }
  return dh
}

/**
 * Everything of this docker host that still exists: its processes (by directory, cgroup, and any
 * process at all still in the host's netns, so stop whatever else you started there first),
 * mounts, files, cgroups.
 */
export function dockerLeaks(dh: DockerHost): string[] {
  const found: string[] = []
  for (const p of findProcesses({ cmdlineHas: dh.dir, cgroup: dh.cgroupParent })) {
    found.push(`process ${p.pid} (${p.cmdline}) still running`)
  }
  if (existsSync(`/run/netns/${dh.host.ns}`)) {
    for (const p of findProcesses({ netNs: netnsIdOf(dh.host.ns) })) {
      found.push(`process ${p.pid} (${p.cmdline}) still in ${dh.host.ns}`)
    }
  }
  for (const m of mountsUnder(dh.dir)) found.push(`mount ${m} left`)
  if (existsSync(dh.dir)) found.push(`directory ${dh.dir} left`)
  for (const c of cgroupDirs(dh.cgroupParent)) found.push(`cgroup ${c} left`)
  return found
}

/** Build a busybox-static rootfs (/bin/busybox + one symlink per applet) and `docker import` it. */
async function importBusybox(dh: DockerHost): Promise<void> {
  const rootfs = join(dh.dir, 'rootfs')
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root'])
    mkdirSync(join(rootfs, d), { recursive: true })
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'))
  const list = await mustRunIn(dh.host.ns, [BUSYBOX, '--list'])
  for (const applet of list.stdout.split('\n').filter((a) => a && a !== 'busybox')) {
    symlinkSync('busybox', join(rootfs, 'bin', applet))
  }
  writeFileSync(
    join(rootfs, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n',
  )
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\nnobody:x:65534:\n')
  const tar = join(dh.dir, 'rootfs.tar')
  await mustRunIn(dh.host.ns, ['tar', '-C', rootfs, '-cf', tar, '.'])
  await dh.mustDocker(['import', '--change', 'CMD ["sh"]', tar, BUSYBOX_IMAGE])
  rmSync(rootfs, { recursive: true })
  rmSync(tar)
}

function containerdConfig(dir: string, socket: string): string {
  // every path containerd would otherwise take from / (root, state, /opt/containerd) is ours
  return [
    'version = 2',
    `root = "${join(dir, 'containerd', 'root')}"`,
    `state = "${join(dir, 'containerd', 'state')}"`,
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = "${socket}"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${join(dir, 'containerd', 'opt')}"`,
    '',
  ].join('\n')
}

const CGROUP_ROOT = '/sys/fs/cgroup'

/** The cgroup directories named `parent` under each mounted hierarchy (v1 and v2). */
function cgroupDirs(parent: string): string[] {
  const dirs: string[] = []
  const roots = existsSync(join(CGROUP_ROOT, 'cgroup.procs'))
    ? [CGROUP_ROOT]
    : readdirSync(CGROUP_ROOT).map((c) => join(CGROUP_ROOT, c))
  for (const root of roots) if (existsSync(join(root, parent))) dirs.push(join(root, parent))
  return dirs
}

/** rmdir the containers' cgroup parent (deepest first); fails while a process is still inside. */
function removeCgroups(parent: string): void {
  for (const top of cgroupDirs(parent)) {
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) walk(join(d, e.name))
      rmdirSync(d)
    }
    walk(top)
  }
}

/** Mount points at or under `dir` as the root mount namespace sees them. */
function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(dir + '/'))
}

function tail(s: string): string {
  return s.trim().split('\n').slice(-5).join('\n')
}

/**
 * Tear down a Docker test cluster in the order that leaves nothing: containers while the agents
 * still answer Docker's Leave/DeleteEndpoint calls; then the agents (their command lines name the
 * docker directories, which dockerLeaks counts as the host's); then the daemons and the topology.
 */
export async function stopDockerCluster(
  topo: Topology,
  hosts: DockerHost[],
  agents: { proc: { stop(graceMs: number): Promise<unknown> } }[] | undefined,
): Promise<void> {
  for (const d of hosts) {
    const ids = (await d.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean)
    if (ids.length) await d.docker(['rm', '-f', ...ids])
  }
  for (const a of agents ?? []) await a.proc.stop(3000)
  for (const d of hosts) await d.stop()
  await topo.destroy()
}
