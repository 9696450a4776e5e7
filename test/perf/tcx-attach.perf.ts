// Scratch probe (not part of `bun test`): how long one tcx attach and one veth pair take on
// this kernel, in isolation. Usage: bun run test/perf/tcx-attach.perf.ts [N] [tcx|tc]
import { attach, openObject, withNetns } from '../../src/bpf/index.ts'
import { testObjectBytes, newPrefix } from '../bpf/fixture.ts'
import { RtnlSocket } from '../../src/net/netlink.ts'
import { closeSync, openSync } from 'node:fs'

const N = Number(process.argv[2] ?? 100)
const mode = (process.argv[3] ?? 'tcx') as 'tcx' | 'tc'
const p = newPrefix()
Bun.spawnSync(['ip', 'netns', 'add', `${p}h`])
Bun.spawnSync(['ip', 'netns', 'add', `${p}s`])
try {
  const obj = openObject(testObjectBytes('count'), { name: 'count' }).load()
  const sb = openSync(`/run/netns/${p}s`, 'r')
  const veth: number[] = []
  const att: number[] = []
  withNetns(`/run/netns/${p}h`, () => {
    const s = RtnlSocket.open()
    for (let i = 0; i < N; i++) {
      let t = performance.now()
      s.createVeth({
        name: `wf${i}`,
        mtu: 1450,
        peer: { name: `e${i}`, netnsFd: sb, mac: '02:00:00:00:00:01', mtu: 1450 },
      })
      s.setLink(`wf${i}`, { up: true })
      veth.push(performance.now() - t)
      t = performance.now()
      attach({ program: obj.program('count_pkts'), iface: `wf${i}`, direction: 'ingress', mode })
      att.push(performance.now() - t)
    }
    s.close()
  })
  closeSync(sb)
  const med = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!.toFixed(2)
  const sum = (a: number[]) => a.reduce((x, y) => x + y, 0).toFixed(0)
  console.log(
    `${N} veths: median ${med(veth)} ms, total ${sum(veth)} ms; ${mode} attach: median ${med(att)} ms, total ${sum(att)} ms`,
  )
} finally {
  Bun.spawnSync(['ip', 'netns', 'del', `${p}h`])
  Bun.spawnSync(['ip', 'netns', 'del', `${p}s`])
}
