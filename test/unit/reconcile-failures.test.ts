// The reconciler's failure book (pure): what it reports, its backoff, its counters.
import { describe, expect, test } from 'bun:test'
import { FailureBook } from '../../src/reconcile/failures.ts'

const item = {
  kind: 'remote-endpoint',
  key: '300/10.0.1.3',
  vni: 300,
  op: 'upsert',
  subject: 'remote endpoint 10.0.1.3 in VNI 300',
} as const

describe('FailureBook', () => {
  test('a failure is reported with its first time, attempts and next retry; success clears it', () => {
    let now = 1000
    const book = new FailureBook({ retryBaseMs: 100, retryMaxMs: 1000, now: () => now })
    book.fail(item, 'map full', 'fp1')
    now = 1050
    const f = book.fail(item, 'map still full', 'fp1')
    expect(f).toEqual({
      ...item,
      error: 'map still full',
      since: 1000,
      attempts: 2,
      lastAttempt: 1050,
      retryAt: 1250,
    })
    expect(book.list()).toEqual([f])
    book.clear(item.kind, item.key)
    expect(book.list()).toEqual([])
    expect(book.totalsByKind()).toEqual({
      network: 0,
      'local-endpoint': 0,
      'remote-endpoint': 2,
      members: 0,
    })
  })

  test('the backoff doubles up to its cap, and holds only for the same desired spec', () => {
    let now = 0
    const book = new FailureBook({ retryBaseMs: 100, retryMaxMs: 1000, now: () => now })
    const delays: number[] = []
    for (let i = 0; i < 6; i++) {
      const f = book.fail(item, 'x', 'fp1')
      delays.push(f.retryAt - f.lastAttempt)
    }
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000])
    expect(book.backingOff(item.kind, item.key, 'fp1')).toBe(true)
    expect(book.backingOff(item.kind, item.key, 'fp2')).toBe(false)
    now = 1000
    expect(book.backingOff(item.kind, item.key, 'fp1')).toBe(false)
    expect(book.nextRetryAt()).toBe(1000)
  })

  test('retain drops what is no longer wanted; the summary names the first failure and counts the rest', () => {
    const book = new FailureBook()
    expect(book.summary()).toBeNull()
    book.fail(item, 'map full')
    book.fail(
      { kind: 'network', key: '300', vni: 300, op: 'upsert', subject: 'network with VNI 300' },
      'MTU out of range',
    )
    expect(book.summary()).toBe(
      '2 items failing: network with VNI 300 (upsert): MTU out of range; and 1 more',
    )
    expect(book.retain('remote-endpoint', () => false).map((f) => f.key)).toEqual(['300/10.0.1.3'])
    expect(book.list().map((f) => f.kind)).toEqual(['network'])
  })
})
