// CPU of the mirror db's writes alone (src/mirror/db.ts on a file in a temp dir), per write of
// the kinds a converge makes on every host: a watch delta of one new endpoint row, and the
// local endpoint fact each attach records. For the before/after of a change to the mirror.
//   bun bench/mirror-cpu.ts [rows] [facts]
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { MirrorDb } from '../src/mirror/index.ts'

const rows = Number(process.argv[2] ?? 3000)
const facts = Number(process.argv[3] ?? 1000)
const dir = mkdtempSync(join(tmpdir(), 'weft-mirror-cpu-'))
try {
  const db = await MirrorDb.open(join(dir, 'state.db'))
  const value = JSON.stringify({ id: 'x'.repeat(64), ip: '10.1.2.3', mac: '02:42:0a:01:02:03' })
  const cpu = (f: () => Promise<void>) => async () => {
    const c0 = process.cpuUsage()
    await f()
    const c = process.cpuUsage(c0)
    return c.user + c.system
  }
  const deltas = cpu(async () => {
    for (let i = 0; i < rows; i++) {
      const key = `weft/v1/endpoints/net${i % 300}/ep${i}`
      await db.applyDelta(
        [{ key, value, modifyIndex: BigInt(i + 10) }],
        [],
        BigInt(i + 10),
        `weft/v1/endpoints/net${i % 300}/`,
        { put: [], deleted: [] },
      )
    }
  })
  const local = cpu(async () => {
    for (let i = 0; i < facts; i++)
      await db.setLocalEndpoint({
        endpointId: `ep${i}`,
        hostIfname: `vx${i}`,
        ifindex: i,
        status: 'attached',
        error: null,
      })
  })
  const d = await deltas()
  const l = await local()
  console.log(
    JSON.stringify({
      rows,
      facts,
      deltaUs: Math.round(d / rows),
      factUs: Math.round(l / facts),
    }),
  )
  db.close()
} finally {
  rmSync(dir, { recursive: true, force: true })
}
