// Drift repair on the bpf datapath (issue 12 item 3): one test per kind of thing weft made,
// changed behind its back; each asserts the repair (traffic flows again, the object is back)
// within 10 s and the weft_repairs_total{kind} counter moving.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { adoptPinnedLink, linkInfo, openPinnedMap, TypedMap, u32 } from '../../src/bpf/index.ts'
import {
  epCodec,
  epKeyCodec,
  memberKeyCodec,
  netCodec,
  PROG_FROM_ENDPOINT,
} from '../../src/datapath/bpf/abi.ts'
import { ENDPOINT_PROGRAM } from '../../src/drift/index.ts'
import { ipv4ToInt } from '../../src/net/index.ts'
import { requireRoot } from '../harness/index.ts'
import { testObjectBytes } from '../bpf/fixture.ts'
import { createDriftRig, inSandbox, onHost, type DriftRig } from './rig.ts'

const SUBNET = '10.91.0.0/24'

function withMap<K, V>(
  rig: DriftRig,
  name: string,
  codecs: [any, any],
  fn: (m: TypedMap<K, V>) => void,
) {
  const pinned = openPinnedMap(join(rig.pinDir, name))
  try {
    fn(new TypedMap<K, V>(pinned, codecs[0], codecs[1]))
  } finally {
    pinned.close()
  }
}

describe('drift on the bpf datapath is put back within 10 s', () => {
  let rig: DriftRig
  beforeAll(async () => {
    requireRoot()
    rig = await createDriftRig('bpf', SUBNET)
  }, 60_000)
  afterAll(async () => {
    await rig?.topo.destroy()
  }, 60_000)

  test('drift knows the endpoint program by the name the BPF object gives it', () => {
    expect(ENDPOINT_PROGRAM).toBe(PROG_FROM_ENDPOINT)
  })

  test('a deleted host veth is re-created (kind veth)', async () => {
    await rig.expectRepair(
      'veth',
      async () => {
        await onHost(rig, ['ip', 'link', 'del', 'dev', rig.a.hostIfname])
      },
      async () => (await onHost(rig, ['ip', '-o', 'link', 'show'])).includes(rig.a.hostIfname),
    )
  }, 30_000)

  test('a removed endpoint filter is attached again (kind tc-filter)', async () => {
    await rig.expectRepair(
      'tc-filter',
      async () => {
        await onHost(rig, ['tc', 'filter', 'del', 'dev', rig.a.hostIfname, 'ingress'])
      },
      async () =>
        (await onHost(rig, ['tc', 'filter', 'show', 'dev', rig.a.hostIfname, 'ingress'])).includes(
          PROG_FROM_ENDPOINT,
        ),
    )
  }, 30_000)

  // announced only as a new filter (RTM_NEWTFILTER): the guard dumps a veth's filters at one
  // comparison in FILTER_BACKSTOP_SHARES unless the listener names it
  test('an endpoint filter replaced by another program is put back (kind tc-filter)', async () => {
    testObjectBytes('count') // built if missing
    // pinned by bpftool and attached as a pinned object: `tc … bpf obj` would make iproute2
    // create its own tc/globals tree (and ip, xdp links) in /sys/fs/bpf, which nothing removes
    const other = `/sys/fs/bpf/weft-test-foreign-${rig.topo.hosts[0]!.node}`
    const load = Bun.spawnSync([
      'bpftool',
      'prog',
      'load',
      join(import.meta.dir, '..', '..', 'build', 'bpf', 'count.o'),
      other,
      'type',
      'classifier',
    ])
    if (load.exitCode !== 0) throw new Error(`bpftool prog load count.o: ${load.stderr.toString()}`)
    try {
      const show = () => onHost(rig, ['tc', 'filter', 'show', 'dev', rig.a.hostIfname, 'ingress'])
      const ours = /pref (\d+) bpf chain \d+ handle (0x[0-9a-f]+) (\S+)/.exec(await show())
      expect(ours?.[3]).toStartWith(PROG_FROM_ENDPOINT)
      await rig.expectRepair(
        'tc-filter',
        async () => {
          await onHost(rig, [
            'tc',
            'filter',
            'replace',
            'dev',
            rig.a.hostIfname,
            'ingress',
            'pref',
            ours![1]!,
            'handle',
            ours![2]!,
            'bpf',
            'da',
            'object-pinned',
            other,
          ])
          expect(await show()).not.toContain(PROG_FROM_ENDPOINT)
        },
        async () => (await show()).includes(PROG_FROM_ENDPOINT),
      )
    } finally {
      if (existsSync(other)) unlinkSync(other) // the filter, not the pin, holds the program
    }
  }, 30_000)

  test('a detached underlay link is attached again (kind underlay-link)', async () => {
    const path = join(rig.pinDir, 'links', 'underlay')
    await rig.expectRepair(
      'underlay-link',
      async () => {
        const link = adoptPinnedLink(path)
        link.detach()
      },
      async () => {
        const link = adoptPinnedLink(path)
        try {
          return linkInfo(link).ifindex !== 0
        } finally {
          link.close()
        }
      },
    )
  }, 30_000)

  test('a removed map pin is pinned again (kind pin)', async () => {
    const path = join(rig.pinDir, 'vx_eps')
    await rig.expectRepair(
      'pin',
      async () => unlinkSync(path),
      async () => existsSync(path),
    )
  }, 30_000)

  test('a deleted remote endpoint entry is written again (kind map-entry)', async () => {
    const key = { vni: rig.network.vni, ip: ipv4ToInt(rig.b.ip) }
    await rig.expectRepair(
      'map-entry',
      async () => {
        withMap(rig, 'vx_eps', [epKeyCodec, epCodec], (m) => expect(m.delete(key)).toBeTruthy())
      },
      async () => {
        let back = false
        withMap<typeof key, { ifindex: number }>(
          rig,
          'vx_eps',
          [epKeyCodec, epCodec],
          (m) => (back = !!m.lookup(key)),
        )
        return back
      },
    )
  }, 30_000)

  test('an altered remote endpoint entry (wrong VTEP) is rewritten (kind map-entry)', async () => {
    const key = { vni: rig.network.vni, ip: ipv4ToInt(rig.b.ip) }
    let vtep = 0
    await rig.expectRepair(
      'map-entry',
      async () => {
        withMap<typeof key, { ifindex: number; vtep: number; mac: Uint8Array }>(
          rig,
          'vx_eps',
          [epKeyCodec, epCodec],
          (m) => {
            const cur = m.lookup(key)!
            vtep = cur.vtep
            m.update(key, { ...cur, vtep: ipv4ToInt('198.18.0.250') })
          },
        )
      },
      async () => {
        let ok = false
        withMap<typeof key, { vtep: number }>(
          rig,
          'vx_eps',
          [epKeyCodec, epCodec],
          (m) => (ok = m.lookup(key)?.vtep === vtep),
        )
        return ok
      },
    )
  }, 30_000)

  test("a deleted local endpoint's address entry is written again (kind map-entry)", async () => {
    const key = { vni: rig.network.vni, ip: ipv4ToInt(rig.a.ip) }
    await rig.expectRepair('map-entry', async () => {
      withMap(rig, 'vx_eps', [epKeyCodec, epCodec], (m) => expect(m.delete(key)).toBeTruthy())
    })
    // traffic towards the repaired endpoint flows too
    await inSandbox(rig.b.ns, ['ping', '-c', '1', '-W', '2', rig.a.ip])
  }, 30_000)

  test('an altered network entry (MTU) is rewritten (kind map-entry)', async () => {
    let mtu = 0
    await rig.expectRepair(
      'map-entry',
      async () => {
        withMap<number, { mtu: number; subnet: number; gateway: number; prefixLen: number }>(
          rig,
          'vx_nets',
          [u32, netCodec],
          (m) => {
            const cur = m.lookup(rig.network.vni)!
            mtu = cur.mtu
            m.update(rig.network.vni, { ...cur, mtu: 600 })
          },
        )
      },
      async () => {
        let ok = false
        withMap<number, { mtu: number }>(
          rig,
          'vx_nets',
          [u32, netCodec],
          (m) => (ok = m.lookup(rig.network.vni)?.mtu === mtu),
        )
        return ok
      },
    )
  }, 30_000)

  test('a removed sandbox address is added again (kind sandbox-address)', async () => {
    await rig.expectRepair(
      'sandbox-address',
      async () => {
        await inSandbox(rig.a.ns, ['ip', 'addr', 'del', `${rig.a.ip}/24`, 'dev', 'eth0'])
      },
      async () =>
        (await inSandbox(rig.a.ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).includes(
          `${rig.a.ip}/24`,
        ),
    )
  }, 30_000)

  test('a removed sandbox route is added again (kind sandbox-route)', async () => {
    await rig.expectRepair(
      'sandbox-route',
      async () => {
        await inSandbox(rig.a.ns, ['ip', 'route', 'del', SUBNET, 'dev', 'eth0'])
      },
      async () => (await inSandbox(rig.a.ns, ['ip', 'route', 'show', SUBNET])).includes('eth0'),
    )
  }, 30_000)

  test('a sandbox end set down is set up again (kind sandbox-link)', async () => {
    await rig.expectRepair(
      'sandbox-link',
      async () => {
        await inSandbox(rig.a.ns, ['ip', 'link', 'set', 'dev', 'eth0', 'down'])
      },
      async () =>
        (await inSandbox(rig.a.ns, ['ip', '-o', 'link', 'show', 'dev', 'eth0'])).includes(
          'state UP',
        ),
    )
  }, 30_000)

  test('a deleted wfgro is re-created (kind gro)', async () => {
    await rig.expectRepair(
      'gro',
      async () => {
        await onHost(rig, ['ip', 'link', 'del', 'dev', 'wfgro'])
      },
      async () =>
        (await onHost(rig, ['ip', '-d', 'link', 'show', 'dev', 'wfgro'])).includes('vnifilter'),
    )
  }, 30_000)

  // setMembers compares with the members as last read or written (not the whole map per call):
  // a member deleted behind weft's back is seen by the next read and written again
  test('a deleted member VTEP entry is written again (kind map-entry)', async () => {
    const vni = rig.network.vni
    let key: { vni: number; vtep: number } | undefined
    withMap<{ vni: number; vtep: number }, number>(
      rig,
      'vx_members',
      [memberKeyCodec, u32],
      (m) => {
        key = m.keys().find((k) => k.vni === vni)
      },
    )
    if (!key) throw new Error(`no member of VNI ${vni} in vx_members: the rig has no remote host`)
    const gone = key
    await rig.expectRepair(
      'map-entry',
      async () => {
        withMap(rig, 'vx_members', [memberKeyCodec, u32], (m) =>
          expect(m.delete(gone)).toBeTruthy(),
        )
      },
      async () => {
        let back = false
        withMap(
          rig,
          'vx_members',
          [memberKeyCodec, u32],
          (m) => (back = m.lookup(gone) !== undefined),
        )
        return back
      },
    )
  }, 30_000)

  test('every drift was logged by kind, and /healthz stays clean', async () => {
    const log = rig.agents[0]!.proc.stderr()
    for (const kind of [
      'veth',
      'tc-filter',
      'underlay-link',
      'pin',
      'map-entry',
      'sandbox-address',
      'sandbox-route',
      'sandbox-link',
      'gro',
    ]) {
      expect(log).toMatch(new RegExp(`"kind":"${kind}".*putting it back`))
    }
    const health = await rig.agents[0]!.api('GET', '/healthz')
    expect(health.body.reconcile.lastError).toBeNull()
  })
})
