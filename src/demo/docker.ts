// Real Docker daemons for `weft demo --docker`, one per demo host, isolated from any dockerd
// on the machine: each has its own containerd, data and exec roots, API socket, pidfile and a
// private mount namespace in which /run/docker (so /run/docker/plugins, where the host's
// weft agent serves the plugin), /run/containerd and /etc/docker are the demo's directories.
// No bridge, iptables rules, NAT or forwarding; containers resolve through an address inside
// the demo's namespaces (--dns). The image is a busybox-static rootfs, `docker import`ed.
// Every process is recorded (DemoState.docker) before it can do anything, and stopped by PID.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs'
import { join } from 'node:path'
import { CliError } from '../cli/_errors.ts'
import { alive, nsPath, run, waitFor, type RunResult } from './_exec.ts'

/** Debian's docker.io client, matched to its daemon (another `docker` may come first in PATH). */
export const DOCKER_CLI = '/usr/bin/docker'
export const DEMO_IMAGE = 'weft-demo/busybox:latest'
const BUSYBOX = '/bin/busybox'
const NEEDED = [
  DOCKER_CLI,
  '/usr/sbin/dockerd',
  '/usr/bin/containerd',
  '/usr/bin/containerd-shim-runc-v2',
  BUSYBOX,
]
const PRIVATE_DIRS = {
  '/run/docker': 'run-docker',
  '/run/containerd': 'run-containerd',
  '/etc/docker': 'etc-docker',
} as const
const CGROUP_ROOT = '/sys/fs/cgroup'

/** What one demo docker host made (recorded in the demo's state before it is made). */
export interface DemoDockerRecord {
  ns: string
  dir: string
  socket: string
  cgroupParent: string
  /** holder, containerd, dockerd: stopped in reverse. */
  pids: number[]
}

export interface DemoDocker {
  record: DemoDockerRecord
  /** Where the weft agent of this host serves the plugin (seen from the root mount namespace). */
  pluginSocket: string
  docker(args: string[]): Promise<RunResult>
  mustDocker(args: string[]): Promise<string>
}

/** Refuses with what to install when Docker's parts or busybox-static are missing. */
export function requireDockerParts(): void {
  const missing = NEEDED.filter((p) => !existsSync(p))
  if (missing.length) {
    throw new CliError(
      `weft demo --docker needs Docker's daemon and a static busybox (missing ${missing.join(', ')}): ` +
        'install them with `apt-get install docker.io busybox-static` (no daemon of yours is touched: the demo starts its own)',
    )
  }
}

const cli = (socket: string, dir: string, args: string[]) => [
  'env',
  `DOCKER_CONFIG=${join(dir, 'cli')}`,
  DOCKER_CLI,
  '-H',
  `unix://${socket}`,
  ...args,
]

function dockerCli(ns: string, rec: DemoDockerRecord) {
  const docker = (args: string[]) =>
    run(['nsenter', `--net=${nsPath(ns)}`, ...cli(rec.socket, rec.dir, args)])
  return {
    docker,
    async mustDocker(args: string[]) {
      const r = await docker(args)
      if (r.code !== 0)
        throw new Error(
          `on ${ns}: \`docker ${args.join(' ')}\` failed: ${(r.stderr || r.stdout).trim()}`,
        )
      return r.stdout.trim()
    },
  }
}

function spawnLogged(cmd: string[], log: string): number {
  const file = Bun.file(log)
  const proc = Bun.spawn(cmd, { stdin: 'ignore', stdout: file, stderr: file, detached: true })
  proc.unref()
  return proc.pid
}

/**
 * Start containerd and dockerd inside host namespace `ns`, under `dir`; `record` is called
 * with the record before the first process starts and again after each one.
 */
export async function startDemoDocker(o: {
  ns: string
  dir: string
  dns: string
  cgroupParent: string
  save(rec: DemoDockerRecord): void
}): Promise<DemoDocker> {
  const { ns, dir } = o
  const rec: DemoDockerRecord = {
    ns,
    dir,
    socket: join(dir, 'docker.sock'),
    cgroupParent: o.cgroupParent,
    pids: [],
  }
  o.save(rec)
  for (const sub of [...Object.values(PRIVATE_DIRS), 'run-docker/plugins', 'containerd', 'cli'])
    mkdirSync(join(dir, sub), { recursive: true })
  for (const mountPoint of Object.keys(PRIVATE_DIRS)) mkdirSync(mountPoint, { recursive: true })
  const containerdSocket = join(dir, 'containerd', 'containerd.sock')
  writeFileSync(join(dir, 'daemon.json'), '{}\n')
  writeFileSync(
    join(dir, 'containerd.toml'),
    [
      'version = 2',
      `root = "${join(dir, 'containerd', 'root')}"`,
      `state = "${join(dir, 'containerd', 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${containerdSocket}"`,
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = "${join(dir, 'containerd', 'opt')}"`,
      '',
    ].join('\n'),
  )
  const started = (pid: number) => {
    rec.pids.push(pid)
    o.save(rec)
    return pid
  }
  // the holder keeps the private mount namespace; containerd and dockerd run inside it
  const binds = Object.entries(PRIVATE_DIRS).map(
    ([at, sub]) => `mount --bind ${join(dir, sub)} ${at}`,
  )
  const ready = join(dir, 'holder.ready')
  const holder = started(
    spawnLogged(
      [
        'nsenter',
        `--net=${nsPath(ns)}`,
        'unshare',
        '--mount',
        '--propagation',
        'private',
        'sh',
        '-c',
        `set -e; ${binds.join('; ')}; touch ${ready}; exec sleep infinity`,
      ],
      join(dir, 'holder.log'),
    ),
  )
  await waitFor(
    () => {
      if (!alive(holder))
        throw new Error(
          `the private mount namespace for ${ns}'s docker could not be made (see ${join(dir, 'holder.log')})`,
        )
      return existsSync(ready)
    },
    `the private mount namespace for ${ns}'s docker`,
    10_000,
    20,
  )
  const inside = (cmd: string[]) => [
    'nsenter',
    `--net=${nsPath(ns)}`,
    `--mount=/proc/${holder}/ns/mnt`,
    '--',
    ...cmd,
  ]
  const containerd = started(
    spawnLogged(
      inside(['containerd', '--config', join(dir, 'containerd.toml')]),
      join(dir, 'containerd.log'),
    ),
  )
  await waitFor(
    () => {
      if (!alive(containerd))
        throw new Error(`containerd on ${ns} exited (see ${join(dir, 'containerd.log')})`)
      return existsSync(containerdSocket)
    },
    `containerd on ${ns}`,
    15_000,
    20,
  )
  const dockerd = started(
    spawnLogged(
      inside([
        'dockerd',
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '-H',
        `unix://${rec.socket}`,
        '--pidfile',
        join(dir, 'docker.pid'),
        '--config-file',
        join(dir, 'daemon.json'),
        '--containerd',
        containerdSocket,
        '--cgroup-parent',
        o.cgroupParent,
        '--dns',
        o.dns,
        '--bridge=none',
        '--iptables=false',
        '--ip6tables=false',
        '--ip-masq=false',
        '--ip-forward=false',
        '--userland-proxy=false',
        '--live-restore',
      ]),
      join(dir, 'dockerd.log'),
    ),
  )
  const c = dockerCli(ns, rec)
  await waitFor(
    async () => {
      if (!alive(dockerd))
        throw new Error(`dockerd on ${ns} exited (see ${join(dir, 'dockerd.log')})`)
      return (await c.docker(['version', '--format', '{{.Server.Version}}'])).code === 0
    },
    `dockerd on ${ns} to answer on ${rec.socket}`,
    30_000,
    50,
  )
  await importBusybox(ns, dir, c.mustDocker)
  return { record: rec, pluginSocket: join(dir, 'run-docker', 'plugins', 'weft.sock'), ...c }
}

async function importBusybox(
  ns: string,
  dir: string,
  mustDocker: (args: string[]) => Promise<string>,
): Promise<void> {
  const rootfs = join(dir, 'rootfs')
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'root'])
    mkdirSync(join(rootfs, d), { recursive: true })
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'))
  const list = await run([BUSYBOX, '--list'])
  for (const applet of list.stdout.split('\n').filter((a) => a && a !== 'busybox'))
    symlinkSync('busybox', join(rootfs, 'bin', applet))
  writeFileSync(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n')
  writeFileSync(join(rootfs, 'etc', 'group'), 'root:x:0:\n')
  const tar = join(dir, 'rootfs.tar')
  const t = await run(['tar', '-C', rootfs, '-cf', tar, '.'])
  if (t.code !== 0) throw new Error(`packing the busybox rootfs failed: ${t.stderr.trim()}`)
  await mustDocker(['import', '--change', 'CMD ["sh"]', tar, DEMO_IMAGE])
  rmSync(rootfs, { recursive: true })
  rmSync(tar)
}

// --- teardown ---

function cgroupDirs(parent: string): string[] {
  const roots = existsSync(join(CGROUP_ROOT, 'cgroup.procs'))
    ? [CGROUP_ROOT]
    : readdirSync(CGROUP_ROOT).map((c) => join(CGROUP_ROOT, c))
  return roots.map((r) => join(r, parent)).filter((d) => existsSync(d))
}

/** PIDs in a cgroup tree (containers, shims that joined it). */
function cgroupPids(dir: string): number[] {
  const out: number[] = []
  const walk = (d: string) => {
    try {
      for (const l of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n'))
        if (l) out.push(Number(l))
      for (const e of readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) walk(join(d, e.name))
    } catch {
      // gone meanwhile
    }
  }
  walk(dir)
  return out
}

/**
 * Is this PID still a process of this docker host, not a reused PID? Its command line names the
 * host's directory (containerd, dockerd), or its mounts do (the holder, `sleep` after exec).
 */
function isOurs(pid: number | undefined, rec: DemoDockerRecord): pid is number {
  if (pid === undefined || !alive(pid)) return false
  try {
    return (
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(rec.dir) ||
      readFileSync(`/proc/${pid}/mountinfo`, 'utf8').includes(rec.dir)
    )
  } catch {
    return false
  }
}

async function stopPid(pid: number, graceMs: number): Promise<void> {
  if (!alive(pid)) return
  process.kill(pid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (alive(pid) && Date.now() < deadline) await Bun.sleep(50)
  if (alive(pid)) process.kill(pid, 'SIGKILL')
  const hard = Date.now() + 2000
  while (alive(pid) && Date.now() < hard) await Bun.sleep(20)
}

/**
 * Remove one demo docker host: its containers (while the weft agents still answer Docker's
 * calls), dockerd, containerd, anything left in its cgroup, the holder, cgroups and files.
 */
export async function teardownDemoDocker(
  rec: DemoDockerRecord,
  log: (line: string) => void,
): Promise<void> {
  const [holder, containerd, dockerd] = rec.pids
  const c = dockerCli(rec.ns, rec)
  if (isOurs(dockerd, rec)) {
    const ids = (await c.docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean)
    if (ids.length) {
      log(`remove containers on ${rec.ns}: docker rm -f ${ids.join(' ')}`)
      await c.docker(['rm', '-f', '-v', ...ids])
    }
  }
  for (const pid of [dockerd, containerd]) {
    if (!isOurs(pid, rec)) continue
    log(`stop ${pid === dockerd ? 'dockerd' : 'containerd'} of ${rec.ns} (pid ${pid})`)
    await stopPid(pid, 10_000)
  }
  for (const d of cgroupDirs(rec.cgroupParent))
    for (const pid of cgroupPids(d)) if (alive(pid)) process.kill(pid, 'SIGKILL')
  if (isOurs(holder, rec)) await stopPid(holder, 2000)
  for (const top of cgroupDirs(rec.cgroupParent)) {
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true }))
        if (e.isDirectory()) walk(join(d, e.name))
      rmdirSync(d)
    }
    try {
      walk(top)
    } catch (e) {
      log(`cgroup ${top} could not be removed yet: ${(e as Error).message}`)
    }
  }
  rmSync(rec.dir, { recursive: true, force: true })
}

/** What of one demo docker host still exists. */
export function demoDockerLeftovers(rec: DemoDockerRecord): string[] {
  const left: string[] = []
  for (const pid of rec.pids) if (isOurs(pid, rec)) left.push(`docker process ${pid} of ${rec.ns}`)
  for (const d of cgroupDirs(rec.cgroupParent)) left.push(`cgroup ${d}`)
  if (existsSync(rec.dir)) left.push(`docker directory ${rec.dir}`)
  return left
}
