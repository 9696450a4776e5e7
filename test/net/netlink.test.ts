// The rtnetlink client against the real kernel, in namespaces of its own: a veth pair made
// across two namespaces, read back, configured, addressed, addresses listed and removed,
// deleted; kernel refusals come back as errors that name the operation and the kernel's
// reason; an answer that never comes fails after the receive timeout instead of hanging.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { closeSync, openSync } from 'node:fs'
import { createTopology, mustRunIn, nsPath, type Topology } from '../harness/index.ts'
import { NetlinkError, RtnlSocket } from '../../src/net/netlink.ts'
import {
  deleteAddressMessage,
  replaceAddressMessage,
  setLinkMessage,
} from '../../src/net/netlink-message.ts'
import { Errno } from '../../src/sys/index.ts'
import { runChild } from './children/run-child.ts'

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
    let echoed
    try {
      echoed = host.createVeth({
        name: 'wfnl0',
        mtu: 1500,
        peer: { name: 'eth5', netnsFd: fd, mac: '02:42:0a:00:00:05', mtu: 1400 },
      })
    } finally {
      closeSync(fd)
    }
    const h = host.getLink('wfnl0')!
    const p = sandbox.getLink('eth5')!
    expect(h).toMatchObject({
      ifname: 'wfnl0',
      kind: 'veth',
      mtu: 1500,
      link: p.ifindex,
      up: false,
    })
    expect(p).toMatchObject({
      ifname: 'eth5',
      kind: 'veth',
      mtu: 1400,
      mac: '02:42:0a:00:00:05',
      link: h.ifindex,
    })
    expect(host.getLink('eth5')).toBeUndefined() // the peer never existed on the host side
    // the kernel echoes the new link (Linux >= 6.2), so plumbing needs no read-back
    expect(echoed).toMatchObject({ ifindex: h.ifindex, mac: h.mac, link: p.ifindex })
  })

  test('configures and addresses the sandbox end: up, the address, no IPv6 link-local', async () => {
    sandbox.setLink('eth5', {})
    sandbox.replaceAddress(sandbox.getLink('eth5')!.ifindex, '10.9.0.5', 24)
    sandbox.setLink('eth5', { up: true })
    host.setLink('wfnl0', { alias: 'weft test', up: true })
    const addrs = JSON.parse(
      (await mustRunIn(sandboxNs, ['ip', '-j', 'addr', 'show', 'dev', 'eth5'])).stdout,
    )[0]
    expect(
      addrs.addr_info.map(
        (a: { family: string; local: string; prefixlen: number }) =>
          `${a.family} ${a.local}/${a.prefixlen}`,
      ),
    ).toEqual(['inet 10.9.0.5/24'])
    expect(sandbox.getLink('eth5')!.up).toBe(true)
    const hostEnd = JSON.parse(
      (await mustRunIn(topo.hosts[0]!.ns, ['ip', '-j', 'link', 'show', 'dev', 'wfnl0'])).stdout,
    )[0]
    expect(hostEnd.ifalias).toBe('weft test')
  })

  test('kernel refusals: EEXIST for a taken name, ENODEV for a missing link, each naming the step', () => {
    const fd = openSync(nsPath(sandboxNs), 'r')
    let exists: unknown
    try {
      host.createVeth({
        name: 'wfnl0',
        mtu: 1500,
        peer: { name: 'eth6', netnsFd: fd, mac: '02:42:0a:00:00:06', mtu: 1400 },
      })
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

  test('a batch: one send, every request handled in order, the first failure thrown after all ran', () => {
    const eth5 = sandbox.getLink('eth5')!.ifindex
    let failed: unknown
    try {
      sandbox.batch([
        { op: 'add 10.9.7.1', m: replaceAddressMessage(eth5, '10.9.7.1', 24) },
        { op: 'configure eth9', m: setLinkMessage('eth9', { up: true }) },
        { op: 'add 10.9.8.2', m: replaceAddressMessage(eth5, '10.9.8.2', 24) },
      ])
    } catch (e) {
      failed = e
    }
    expect(failed).toBeInstanceOf(NetlinkError)
    expect((failed as NetlinkError).errno).toBe(Errno.ENODEV)
    expect((failed as NetlinkError).message).toContain('configure eth9')
    const ips = sandbox.addresses(eth5).map((a) => a.ip)
    expect(ips).toContain('10.9.7.1')
    expect(ips).toContain('10.9.8.2') // the request after the failed one still ran
    sandbox.batch([
      { op: 'del 10.9.7.1', m: deleteAddressMessage(eth5, '10.9.7.1', 24) },
      { op: 'del 10.9.8.2', m: deleteAddressMessage(eth5, '10.9.8.2', 24) },
    ])
    expect(sandbox.addresses(eth5).map((a) => a.ip)).toEqual(['10.9.0.5'])
  })

  test('addresses: listed per link, a stale one removed, deleting a missing one is false', () => {
    const eth5 = sandbox.getLink('eth5')!
    expect(sandbox.getLink(eth5.ifindex)?.ifname).toBe('eth5') // by ifindex as by name
    sandbox.replaceAddress(eth5.ifindex, '10.9.9.9', 16)
    expect(sandbox.addresses(eth5.ifindex)).toEqual([
      { ifindex: eth5.ifindex, ip: '10.9.0.5', prefixLen: 24 },
      { ifindex: eth5.ifindex, ip: '10.9.9.9', prefixLen: 16 },
    ])
    expect(sandbox.addresses().map((a) => a.ip)).toContain('127.0.0.1') // the whole netns: lo too
    expect(sandbox.deleteAddress(eth5.ifindex, '10.9.9.9', 16)).toBe(true)
    expect(sandbox.deleteAddress(eth5.ifindex, '10.9.9.9', 16)).toBe(false)
    expect(sandbox.addresses(eth5.ifindex).map((a) => a.ip)).toEqual(['10.9.0.5'])
  })

  test('deleting the host end removes both ends; a second delete reports it was gone', () => {
    expect(host.deleteLink('wfnl0')).toBe(true)
    expect(host.getLink('wfnl0')).toBeUndefined()
    expect(sandbox.getLink('eth5')).toBeUndefined()
    expect(host.deleteLink('wfnl0')).toBe(false)
  })

  test('an answer that never comes fails after the receive timeout, and the socket recovers', async () => {
    // In a child: without SO_RCVTIMEO its recv() would block that whole process forever.
    const r = await runChild('netlink-lost-answer.ts', [nsPath(topo.hosts[0]!.ns), '300'], 20_000)
    expect(r.timedOut).toBe(false)
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout)
    expect(out.error).toEqual({
      code: 'netlink_timeout',
      message: 'read link lo: no answer from the kernel within 300 ms (EAGAIN)',
    })
    expect(out.waitedMs).toBeGreaterThanOrEqual(290)
    expect(out.waitedMs).toBeLessThan(5000)
    expect(out.after).toBe('lo')
  })
})
