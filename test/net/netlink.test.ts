// The rtnetlink client against the real kernel, in namespaces of its own: a veth pair made
// across two namespaces, read back, configured, addressed; kernel refusals come back as
// errors that name the operation and the kernel's reason.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { closeSync, openSync } from 'node:fs'
import { createTopology, mustRunIn, nsPath, type Topology } from '../harness/index.ts'
import { NetlinkError, RtnlSocket } from '../../src/net/netlink.ts'
import { Errno } from '../../src/bpf/index.ts'

describe('RtnlSocket (real namespaces)', () => {
  let topo: Topology
  let host: RtnlSocket
  let sandbox: RtnlSocket
  let sandboxNs: string

  beforeAll(async () => {
    topo = await createTopology({ hosts: 1, containersPerHost: 1 })
    sandboxNs = topo.hosts[0]!.containers[0]!.ns
    host = RtnlSocket.open(nsPath(topo.hosts[0]!.ns))
    sandbox = RtnlSocket.open(nsPath(sandboxNs))
  })
  afterAll(async () => {
    host?.close()
    sandbox?.close()
    await topo.destroy()
  })

  test('creates a veth pair with its peer in another namespace; both ends read back', async () => {
    const fd = openSync(nsPath(sandboxNs), 'r')
    try {
      host.createVeth({ name: 'wfnl0', mtu: 1500, peer: { name: 'eth5', netnsFd: fd, mac: '02:42:0a:00:00:05', mtu: 1400 } })
    } finally {
      closeSync(fd)
    }
    const h = host.getLink('wfnl0')!
    const p = sandbox.getLink('eth5')!
    expect(h).toMatchObject({ ifname: 'wfnl0', kind: 'veth', mtu: 1500, link: p.ifindex, up: false })
    expect(p).toMatchObject({ ifname: 'eth5', kind: 'veth', mtu: 1400, mac: '02:42:0a:00:00:05', link: h.ifindex })
    expect(host.getLink('eth5')).toBeUndefined() // the peer never existed on the host side
  })

  test('configures and addresses the sandbox end: up, the address, no IPv6 link-local', async () => {
    sandbox.setLink('eth5', {})
    sandbox.replaceAddress(sandbox.getLink('eth5')!.ifindex, '10.9.0.5', 24)
    sandbox.setLink('eth5', { up: true })
    host.setLink('wfnl0', { alias: 'weft test', up: true })
    const addrs = JSON.parse((await mustRunIn(sandboxNs, ['ip', '-j', 'addr', 'show', 'dev', 'eth5'])).stdout)[0]
    expect(addrs.addr_info.map((a: { family: string; local: string; prefixlen: number }) => `${a.family} ${a.local}/${a.prefixlen}`)).toEqual(['inet 10.9.0.5/24'])
    expect(sandbox.getLink('eth5')!.up).toBe(true)
    const hostEnd = JSON.parse((await mustRunIn(topo.hosts[0]!.ns, ['ip', '-j', 'link', 'show', 'dev', 'wfnl0'])).stdout)[0]
    expect(hostEnd.ifalias).toBe('weft test')
  })

  test('kernel refusals: EEXIST for a taken name, ENODEV for a missing link, each naming the step', () => {
    const fd = openSync(nsPath(sandboxNs), 'r')
    let exists: unknown
    try {
      host.createVeth({ name: 'wfnl0', mtu: 1500, peer: { name: 'eth6', netnsFd: fd, mac: '02:42:0a:00:00:06', mtu: 1400 } })
    } catch (e) {
      exists = e
    } finally {
      closeSync(fd)
    }
    expect(exists).toBeInstanceOf(NetlinkError)
    expect((exists as NetlinkError).errno).toBe(Errno.EEXIST)
    expect((exists as NetlinkError).message).toContain('create veth wfnl0')
    let missing: unknown
    try {
      sandbox.setLink('eth9', { up: true })
    } catch (e) {
      missing = e
    }
    expect((missing as NetlinkError).errno).toBe(Errno.ENODEV)
    expect((missing as NetlinkError).message).toContain('configure eth9')
  })
})
