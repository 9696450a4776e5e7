// The store thread's sampling profile (src/kv/secure/store-profile.ts): Bun's --cpu-prof does not
// see a Worker, so with WEFT_STORE_PROFILE=DIR the store's own thread samples itself and writes
// DIR/store-profile-PID.json at stop: its samples name the store's own functions, which a
// profile of the agent's thread could not.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const dir = mkdtempSync(join(tmpdir(), 'weft-kv-profile-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('store thread profile', () => {
  test('WEFT_STORE_PROFILE: the thread writes samples of the store functions it ran', async () => {
    const out = join(dir, 'profile')
    const fixture = join(import.meta.dir, 'fixtures', 'profiled-store.ts')
    const run = Bun.spawnSync([process.execPath, fixture, dir], {
      env: { ...process.env, WEFT_STORE_PROFILE: out },
      stderr: 'pipe',
    })
    expect(run.stderr.toString()).toBe('')
    expect(run.exitCode).toBe(0)
    const files = readdirSync(out)
    expect(files).toHaveLength(1)
    const p = JSON.parse(readFileSync(join(out, files[0]!), 'utf8')) as {
      samples: number
      inclusive: [string, number][]
    }
    expect(p.samples).toBeGreaterThan(0)
    const names = p.inclusive.map(([n]) => n)
    expect(names.some((n) => n.includes('kv-routes.ts') || n.includes('engine.ts'))).toBe(true)
  })
})
