// The pin directory lock (flock on /sys/fs/bpf/weft/<node>/), on a plain directory: one holder
// at a time (a second open file description is refused, even in the same process), released
// on release(), and --teardown's form (create: false) takes nothing when the node has no pins.
import { afterAll, describe, expect, test } from 'bun:test'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { lockPinDir, PinDirBusyError } from '../../src/agent/pin-lock.ts'

const root = mkdtempSync(join(tmpdir(), 'weft-pin-lock-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('lockPinDir', () => {
  test('one holder at a time; release lets the next one in', () => {
    mkdirSync(join(root, 'n1'))
    const first = lockPinDir('n1', { root, create: false })!
    expect(first.dir).toBe(join(root, 'n1'))
    let refused: unknown
    try {
      lockPinDir('n1', { root, create: false })
    } catch (e) {
      refused = e
    }
    expect(refused).toBeInstanceOf(PinDirBusyError)
    expect((refused as Error).message).toBe(
      `another weft agent on this kernel runs as node n1 (it holds ${join(root, 'n1')}): give this one another --name, or stop that one first`,
    )
    // another node's directory is its own
    mkdirSync(join(root, 'n2'))
    lockPinDir('n2', { root, create: false })!.release()
    first.release()
    first.release() // idempotent
    lockPinDir('n1', { root, create: false })!.release()
  })

  test('create: false takes nothing when the node has no pin directory', () => {
    expect(lockPinDir('absent', { root, create: false })).toBeUndefined()
  })
})
