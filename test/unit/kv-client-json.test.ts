// The store client's JSON fast paths: a txn body written without a replacer is the same text
// the bigint replacer wrote, and an answer is parsed plainly unless a long number is in it,
// where u64 values stay exact.
import { describe, expect, test } from 'bun:test'
import { stringifyJson } from '../../src/kv/json.ts'
import { opToWire } from '../../src/kv/client/txn.ts'
import { parseBody } from '../../src/kv/client/kv.ts'
import type { TxnOp } from '../../src/kv/types.ts'

const MAX = 2n ** 64n - 1n
const answer = (text: string) =>
  parseBody({
    status: 200,
    headers: new Headers(),
    body: new TextEncoder().encode(text),
    endpoint: 'PUT /v1/txn',
  })

describe('store client JSON', () => {
  test('a txn body carries u64 index and flags as bare numbers, as the replacer wrote them', () => {
    const ops: TxnOp[] = [
      { verb: 'check-index', key: 'a/b', index: MAX },
      { verb: 'cas', key: 'a/c', value: 'v', index: 0n, flags: MAX - 7n },
      { verb: 'set', key: 'a/d', value: new Uint8Array([1, 2, 3]) },
    ]
    const body = JSON.stringify(ops.map(opToWire))
    const old = stringifyJson(
      ops.map((op) => {
        const w = opToWire(op) as { KV: Record<string, unknown> }
        if (op.index !== undefined) w.KV.Index = op.index
        if (op.flags !== undefined) w.KV.Flags = op.flags
        return w
      }),
    )
    expect(body).toBe(old)
    expect(body).toContain(`"Index":${MAX}`)
    expect(body).toContain(`"Flags":${MAX - 7n}`)
  })

  test('an answer keeps numbers above 2^53 exact, also with whitespace before them', () => {
    expect(answer(`[{"Key":"k","Flags":${MAX},"ModifyIndex":5}]`)).toEqual([
      { Key: 'k', Flags: MAX, ModifyIndex: 5 },
    ])
    expect(answer(`{"Index": \n ${MAX - 1n}, "List":[ 9007199254740993]}`)).toEqual({
      Index: MAX - 1n,
      List: [9007199254740993n],
    })
  })

  test('sixteen digits inside a key are no number: the answer parses as plain JSON', () => {
    const key = `weft/v1/endpoints/${'1234567890123456'.repeat(4)}`
    expect(answer(`[{"Key":"${key}","ModifyIndex":12}]`)).toEqual([{ Key: key, ModifyIndex: 12 }])
  })
})
