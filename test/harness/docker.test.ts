// Two real dockerd hosts in two host namespaces: each runs a busybox container from the
// imported image, execs in it, survives a dockerd restart (live-restore), and leaves nothing.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  BUSYBOX_IMAGE,
  createTopology,
  dockerLeaks,
  leaks,
  runIn,
  startDockerHost,
  type DockerHost,
  type Topology,
} from './index.ts'

describe('startDockerHost on two host namespaces', () => {
  let topo: Topology
  const hosts: DockerHost[] = []

  beforeAll(async () => {
    topo = await createTopology({ hosts: 2 })
    // one after the other: two daemons starting at once on two cores only measure contention
    const whole: string[] = []
    for (let i = 0; i < 2; i++) {
      const t0 = performance.now()
      hosts.push(await startDockerHost(topo, i))
      whole.push(((performance.now() - t0) / 1000).toFixed(2))
    }
    console.log(
      `dockerd start (spawn to API answering): ${hosts.map((h) => h.startSeconds[0]!.toFixed(2)).join(' s, ')} s`,
    )
    console.log(
      `startDockerHost (mount ns, containerd, dockerd, image import): ${whole.join(' s, ')} s`,
    )
  }, 120_000)

  afterAll(async () => {
    const prefix = topo.prefix
    await topo.destroy()
    expect(await leaks(prefix)).toEqual([])
    for (const h of hosts) expect(dockerLeaks(h)).toEqual([])
  }, 120_000)

  test('each daemon is its own: own socket, own data root, the busybox image', async () => {
    const ids = await Promise.all(
      hosts.map((h) => h.mustDocker(['info', '--format', '{{.ID}} {{.DockerRootDir}}'])),
    )
    expect(ids[0]).not.toBe(ids[1])
    hosts.forEach((h, i) => expect(ids[i]).toEndWith(join(h.dir, 'data')))
    for (const h of hosts)
      expect(await h.mustDocker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).toBe(
        BUSYBOX_IMAGE,
      )
  })

  test('a busybox container runs on each host and exec echo answers', async () => {
    for (const [i, h] of hosts.entries()) {
      await h.mustDocker([
        'run',
        '-d',
        '--network',
        'none',
        '--name',
        `bbox${i + 1}`,
        BUSYBOX_IMAGE,
        'sleep',
        '3600',
      ])
      expect(await h.mustDocker(['exec', `bbox${i + 1}`, 'echo', `hello from ${h.host.ns}`])).toBe(
        `hello from ${h.host.ns}`,
      )
    }
  }, 60_000)

  test('containers resolve only through the --dns address inside the test namespaces', async () => {
    for (const [i, h] of hosts.entries()) {
      const resolv = await h.mustDocker(['exec', `bbox${i + 1}`, 'cat', '/etc/resolv.conf'])
      expect(resolv.split('\n').filter((l) => l.startsWith('nameserver'))).toEqual([
        `nameserver ${h.host.underlay.ip}`,
      ])
    }
  })

  test('dockerd sees its own /run/docker/plugins, backed by pluginsDir', async () => {
    const h = hosts[0]!
    const marker = join(h.pluginsDir, 'marker')
    await Bun.write(marker, 'x')
    expect((await h.runInMountNs(['ls', '/run/docker/plugins'])).stdout.trim()).toBe('marker')
    // the root mount namespace's /run/docker is untouched
    expect((await runIn(h.host.ns, ['ls', '/run/docker'])).stdout).not.toContain('plugins')
  })

  test('the daemon added no interfaces, iptables rules or forwarding to the host namespace', async () => {
    for (const h of hosts) {
      const links = JSON.parse((await runIn(h.host.ns, ['ip', '-j', 'link'])).stdout).map(
        (l: { ifname: string }) => l.ifname,
      )
      expect(links.sort()).toEqual(['lo', 'ul0'])
      expect((await runIn(h.host.ns, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim()).toBe(
        '0',
      )
    }
  })

  test('with live-restore a container keeps running across a dockerd restart', async () => {
    const h = hosts[1]!
    const pid = await h.containerPid('bbox2')
    const oldDockerd = h.dockerdPid
    await h.restartDockerd()
    expect(h.dockerdPid).not.toBe(oldDockerd)
    expect(await h.containerPid('bbox2')).toBe(pid)
    expect(await h.mustDocker(['exec', 'bbox2', 'echo', 'still here'])).toBe('still here')
    console.log(`dockerd restart with a live container: ${h.startSeconds.at(-1)!.toFixed(2)} s`)
  }, 60_000)

  test('stop() ends everything by PID and removes data, exec root and cgroups', async () => {
    const h = hosts[0]!
    const dockerdPid = h.dockerdPid
    const containerPid = await h.containerPid('bbox1')
    await h.stop()
    expect(dockerLeaks(h)).toEqual([])
    for (const pid of [dockerdPid, containerPid])
      expect(() => readFileSync(`/proc/${pid}/stat`)).toThrow()
  }, 60_000)
})
