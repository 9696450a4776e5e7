// The agent's small wiring units: the disposer stack (reverse order, once, failures logged
// and passed) and the keyed queue (one task per key at a time, failures do not block).
import { describe, expect, test } from 'bun:test'
import { DisposerStack } from '../../src/agent/disposers.ts'
import { KeyedQueue } from '../../src/agent/keyed-queue.ts'

const recordingLog = () => {
  const warned: object[] = []
  return { warned, warn: (o: object) => void warned.push(o) }
}

describe('DisposerStack', () => {
  test('runs the steps in reverse order of registration', async () => {
    const order: string[] = []
    const stack = new DisposerStack(recordingLog())
    for (const s of ['db', 'store', 'datapath', 'api']) stack.push(s, () => void order.push(s))
    await stack.dispose()
    expect(order).toEqual(['api', 'datapath', 'store', 'db'])
  })

  test('a second dispose runs no step again, also while the first is still running', async () => {
    const order: string[] = []
    let release!: () => void
    const slow = new Promise<void>((r) => (release = r))
    const stack = new DisposerStack(recordingLog())
    stack.push('first', () => void order.push('first'))
    stack.push('slow', async () => {
      order.push('slow')
      await slow
    })
    const a = stack.dispose()
    const b = stack.dispose()
    release()
    await Promise.all([a, b])
    await stack.dispose()
    expect(order).toEqual(['slow', 'first'])
  })

  test('a failing step is logged with its name and the others still run', async () => {
    const log = recordingLog()
    const order: string[] = []
    const stack = new DisposerStack(log)
    stack.push('a', () => void order.push('a'))
    stack.push('b', () => {
      throw new Error('b broke')
    })
    stack.push('c', async () => void order.push('c'))
    await stack.dispose()
    expect(order).toEqual(['c', 'a'])
    expect(log.warned).toEqual([{ step: 'b', err: 'b broke' }])
  })

  test('no step can be added once stopping', async () => {
    const stack = new DisposerStack(recordingLog())
    await stack.dispose()
    expect(() => stack.push('late', () => {})).toThrow(/already stopping/)
  })
})

describe('KeyedQueue', () => {
  test('tasks of one key run one at a time in order; other keys do not wait', async () => {
    const q = new KeyedQueue()
    const events: string[] = []
    let releaseA!: () => void
    const gate = new Promise<void>((r) => (releaseA = r))
    const a1 = q.run('a', async () => {
      events.push('a1 start')
      await gate
      events.push('a1 end')
    })
    const a2 = q.run('a', async () => void events.push('a2'))
    await q.run('b', async () => void events.push('b'))
    expect(events).toEqual(['a1 start', 'b'])
    releaseA()
    await Promise.all([a1, a2])
    expect(events).toEqual(['a1 start', 'b', 'a1 end', 'a2'])
    expect(q.size).toBe(0)
  })

  test('a failed task fails its own caller only; the next one runs', async () => {
    const q = new KeyedQueue()
    const bad = q.run('k', async () => {
      throw new Error('nope')
    })
    const good = q.run('k', async () => 42)
    await expect(bad).rejects.toThrow('nope')
    expect(await good).toBe(42)
  })
})
