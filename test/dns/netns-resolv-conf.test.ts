// /etc/netns/<name>/resolv.conf ownership (on temporary directories): weft writes one only
// where the user has none, removes only its own, and cleans its own for namespaces that are gone.
import { afterEach, describe, expect, test } from 'bun:test'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ensureNetnsResolvConf,
  netnsName,
  removeNetnsResolvConf,
  removeNodeResolvConfs,
  removeOrphanedResolvConfs,
} from '../../src/dns/netns-resolv-conf.ts'
import { parseResolvConf } from '../../src/dns/upstream.ts'

const dirs: string[] = []
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'weft-dns-'))
  dirs.push(d)
  return d
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

describe('netns resolv.conf', () => {
  test('written when there is none, naming the resolver address; removed with its directory', () => {
    const etc = tmp()
    expect(ensureNetnsResolvConf('c1', '127.0.0.11', etc)).toBe(true)
    expect(
      parseResolvConf(readFileSync(join(etc, 'c1', 'resolv.conf'), 'utf8')).nameservers,
    ).toEqual(['127.0.0.11'])
    expect(ensureNetnsResolvConf('c1', '127.0.0.11', etc)).toBe(true) // ours already: adopted (agent restart)
    removeNetnsResolvConf('c1', etc)
    expect(existsSync(join(etc, 'c1'))).toBe(false)
  })

  test("a user's file is neither replaced nor removed", () => {
    const etc = tmp()
    mkdirSync(join(etc, 'c2'))
    writeFileSync(join(etc, 'c2', 'resolv.conf'), 'nameserver 10.9.9.9\n')
    expect(ensureNetnsResolvConf('c2', '127.0.0.11', etc)).toBe(false)
    removeNetnsResolvConf('c2', etc)
    expect(readFileSync(join(etc, 'c2', 'resolv.conf'), 'utf8')).toBe('nameserver 10.9.9.9\n')
    expect(removeOrphanedResolvConfs(etc, tmp())).toEqual([])
  })

  test('ours for a namespace that is gone is cleaned; a live one stays', () => {
    const etc = tmp()
    const run = tmp()
    writeFileSync(join(run, 'live'), '')
    ensureNetnsResolvConf('live', '127.0.0.11', etc)
    ensureNetnsResolvConf('gone', '127.0.0.11', etc)
    expect(removeOrphanedResolvConfs(etc, run)).toEqual(['gone'])
    expect(existsSync(join(etc, 'live', 'resolv.conf'))).toBe(true)
    expect(existsSync(join(etc, 'gone'))).toBe(false)
  })

  test("a node's teardown removes the files its agent wrote; other nodes', older agents' and the user's stay", () => {
    const etc = tmp()
    ensureNetnsResolvConf('a1', '127.0.0.11', etc, 'h1')
    ensureNetnsResolvConf('b1', '127.0.0.11', etc, 'h2')
    ensureNetnsResolvConf('old', '127.0.0.11', etc)
    mkdirSync(join(etc, 'mine'))
    writeFileSync(join(etc, 'mine', 'resolv.conf'), '# weft node: h1\nnameserver 10.9.9.9\n')
    expect(removeNodeResolvConfs('h1', etc)).toEqual([join(etc, 'a1', 'resolv.conf')])
    expect(existsSync(join(etc, 'a1'))).toBe(false)
    for (const kept of ['b1', 'old', 'mine'])
      expect(existsSync(join(etc, kept, 'resolv.conf'))).toBe(true)
    expect(removeNodeResolvConfs('h1', join(etc, 'missing'))).toEqual([])
  })

  test('only ip-netns paths have a name; resolv.conf parsing keeps at most three servers', () => {
    expect([
      netnsName('/run/netns/a'),
      netnsName('/var/run/netns/b'),
      netnsName('/proc/1/ns/net'),
    ]).toEqual(['a', 'b', undefined])
    const rc = parseResolvConf(
      '# c\nnameserver 10.0.0.1\nnameserver fe80::1%eth0\nsearch a.example b.example\nnameserver 10.0.0.3 ; x\nnameserver 10.0.0.4\noptions ndots:2\n',
    )
    expect(rc).toEqual({
      nameservers: ['10.0.0.1', 'fe80::1', '10.0.0.3'],
      search: ['a.example', 'b.example'],
      options: ['ndots:2'],
    })
  })
})
