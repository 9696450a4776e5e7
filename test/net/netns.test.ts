// withNetns against the real kernel: a call runs inside the namespace and comes back; a
// failure to enter leaves the thread where it was; a failure to come back aborts the process
// (tried in a child process, which must die of SIGABRT before running another statement).
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { statSync } from 'node:fs'
import { NetnsError, withNetns } from '../../src/sys/index.ts'
import { createTopology, nsPath, requireRoot, type Topology } from '../harness/index.ts'
import { runChild } from './children/run-child.ts'

requireRoot()

/** Inode of this thread's network namespace (the nsfs inode a netns file also has). */
const here = () => statSync('/proc/thread-self/ns/net').ino

describe('withNetns (real namespaces)', () => {
  let topo: Topology
  let sandbox: string

  beforeAll(async () => {
    topo = await createTopology({ hosts: 1, containersPerHost: 1 })
    sandbox = nsPath(topo.hosts[0]!.containers[0]!.ns)
  })
  afterAll(async () => {
    await topo.destroy()
  })

  test('runs fn inside the namespace and returns to the original one, also when fn throws', () => {
    const home = here()
    const target = statSync(sandbox).ino
    expect(target).not.toBe(home)
    expect(withNetns(sandbox, here)).toBe(target)
    expect(here()).toBe(home)
    expect(() =>
      withNetns(sandbox, () => {
        throw new Error('boom')
      }),
    ).toThrow('boom')
    expect(here()).toBe(home)
  })

  test('a nested call returns to the namespace it was called in, then the outer one home', () => {
    const home = here()
    const other = nsPath(topo.hosts[0]!.ns)
    const seen = withNetns(sandbox, () => {
      const inner = withNetns(other, here)
      return { inner, after: here() }
    })
    expect(seen).toEqual({ inner: statSync(other).ino, after: statSync(sandbox).ino })
    expect(here()).toBe(home)
    // and again after the nesting: the thread's own namespace is still where calls return
    expect(withNetns(other, here)).toBe(statSync(other).ino)
    expect(here()).toBe(home)
  })

  test('a namespace that cannot be entered is an error and the thread stays home', () => {
    const home = here()
    expect(() => withNetns('/run/netns/wf-no-such-ns', here)).toThrow(NetnsError)
    expect(() => withNetns('/run/netns/wf-no-such-ns', here)).toThrow(/no such namespace file/)
    // a namespace file of another kind: setns(CLONE_NEWNET) refuses it with EINVAL
    expect(() => withNetns('/proc/self/ns/uts', here)).toThrow(
      /enter netns \/proc\/self\/ns\/uts: EINVAL/,
    )
    expect(here()).toBe(home)
  })

  test.each(['returns', 'throws'])(
    'failing to come back aborts the process (fn %s)',
    async (mode) => {
      const r = await runChild('netns-stuck.ts', [sandbox, mode], 20_000)
      expect(r.timedOut).toBe(false)
      expect(r.signalCode).toBe('SIGABRT')
      expect(r.stdout).toBe('inside\n') // not "caught", not "carried on"
      expect(r.stderr).toContain(
        `weft: fatal: cannot return to this process's own network namespace after entering ${sandbox}`,
      )
      expect(r.stderr).toContain('EPERM')
    },
  )
})
