// The endpoint plumbing thread (see plumb-thread.ts): plumbs each endpoint it is sent, in order,
// with this thread's own netlink sockets (and setns of this thread only), and answers.
import { plumbEndpoint } from './endpoint.ts'
import { carryError, type FromPlumbThread, type ToPlumbThread } from './plumb-thread.ts'

declare const self: Worker
const post = (m: FromPlumbThread) => self.postMessage(m)

self.onmessage = async (e: MessageEvent<ToPlumbThread>) => {
  const m = e.data
  const id = m.id
  try {
    post({ id, ok: await plumbEndpoint(m.spec) })
  } catch (err) {
    post({ id, error: carryError(err) })
  }
}
