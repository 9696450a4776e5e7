// createDatapath picks the implementation; constructing one touches no kernel state.
import { expect, test } from 'bun:test'
import { createDatapath } from '../../src/datapath/index.ts'

const opts = { node: 'factory-test', advertise: '198.18.0.1' }

test('createDatapath builds kernel and bpf datapaths without touching the kernel', async () => {
  expect((await createDatapath('kernel', opts)).kind).toBe('kernel')
  expect((await createDatapath('bpf', opts)).kind).toBe('bpf')
})

test('createDatapath refuses an unknown kind and a bad advertise address', async () => {
  await expect(createDatapath('nope' as 'bpf', opts)).rejects.toThrow(
    /unknown datapath "nope": use bpf or kernel/,
  )
  await expect(createDatapath('kernel', { ...opts, advertise: 'eth0' })).rejects.toThrow(
    /advertise address/,
  )
})
