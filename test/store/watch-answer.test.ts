// A watch that failed says the store answers again as soon as it does, not at its next change:
// the store status (doctor, /metrics, health) followed only change events, so after one lost
// round a quiet cluster's store read as unreachable until someone wrote. Real embedded server
// (HTTP, engine, libSQL), stopped and started again on the same port with nothing written.
// And a change whose handler failed (the mirror could not apply it) is delivered again, not
// skipped until the next write: the store answering must not hide a mirror left behind.
import { afterEach, expect, test } from 'bun:test'
import { ConsulClient } from '../../src/kv/index.ts'
import { ClusterMirror, MirrorDb, followStore } from '../../src/mirror/index.ts'
import { ConsulStore, StoreStatus, type ClusterStore } from '../../src/store/index.ts'
import { startTestServer, waitFor } from '../kv/helpers.ts'

const cleanups: (() => unknown)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

test('after a failed round the status is answered again without any write', async () => {
  const srv = await startTestServer()
  cleanups.push(() => srv.cleanup())
  const address = srv.kv.url
  const client = new ConsulClient({ address })
  await client.kv.put('weft/v1/nodes/n1', 'x')
  const store = new ConsulStore(new ConsulClient({ address }), {
    watchWaitMs: 1_000,
  })
  const status = new StoreStatus()
  const mirror = new ClusterMirror(await MirrorDb.open(':memory:'))
  let events = 0
  // counts the change events the follower gets: none may be what brings the status back
  const counting = {
    watch: (p, on, h) =>
      store.watch(
        p,
        (e) => {
          events++
          return on(e)
        },
        h,
      ),
  } as Pick<ClusterStore, 'watch'> as ClusterStore
  const watch = followStore(counting, 'weft/v1/', mirror, status)
  cleanups.push(async () => {
    watch.stop()
    await watch.done
  })
  await waitFor(() => status.reachable && events > 0, { what: 'the first answer' })

  const port = srv.kv.port
  await srv.kv.stop()
  await waitFor(() => !status.reachable, { what: 'the status to see the store gone' })
  const seen = events
  await srv.restart()
  expect(srv.kv.port).toBe(port) // the watch dials the old port: another would prove nothing

  await waitFor(() => status.reachable, {
    what: 'the status to see the store answer again',
    timeoutMs: 8_000,
  })
  // nothing was written: no change event brought it back, the answer itself did
  expect(events).toBe(seen)
  expect(status.lastError).toBeUndefined()
}, 30_000)

test('a change the handler failed to take is delivered again without another write', async () => {
  const srv = await startTestServer()
  cleanups.push(() => srv.cleanup())
  const client = new ConsulClient({ address: srv.kv.url })
  await client.kv.put('weft/v1/nodes/n1', 'one')
  const store = new ConsulStore(new ConsulClient({ address: srv.kv.url }), {
    watchWaitMs: 1_000,
  })
  const taken: string[] = []
  let failures = 0
  let errors = 0
  const watch = store.watch(
    'weft/v1/nodes/',
    (e) => {
      const values = (e.kind === 'snapshot' ? e.entries : e.put).map((x) => x.value)
      // the first delivery of the second write fails, as a mirror write that hit a full disk
      if (values.includes('two') && failures++ === 0) throw new Error('the mirror could not apply')
      taken.push(...values)
    },
    { onError: () => errors++ },
  )
  cleanups.push(async () => {
    watch.stop()
    await watch.done
  })
  await waitFor(() => taken.includes('one'), { what: 'the first value' })
  await client.kv.put('weft/v1/nodes/n1', 'two')
  // nothing else is written: the failed change itself must come again
  await waitFor(() => taken.includes('two'), {
    what: 'the failed change to be delivered again',
    timeoutMs: 8_000,
  })
  expect(failures).toBe(2)
  expect(errors).toBe(1)
}, 30_000)
