// The endpoint plumbing thread (see plumb-thread.ts): plumbs each endpoint (and its way out) it
// is sent, in order, with this thread's own netlink sockets (and setns of this thread only), and
// answers. (The way out is src/egress's; this entry point is the one place that joins the two.)
import { plumbWayOut } from '../egress/routes.ts'
import { plumbEndpoint } from './endpoint.ts'
import { carryError, type FromPlumbThread, type ToPlumbThread } from './plumb-thread.ts'

declare const self: Worker
const post = (m: FromPlumbThread) => self.postMessage(m)

self.onmessage = async (e: MessageEvent<ToPlumbThread>) => {
  const m = e.data
  const id = m.id
  try {
    if (m.op === 'plumb') post({ id, ok: await plumbEndpoint(m.spec) })
    else {
      plumbWayOut(m.plumbing)
      post({ id, ok: null })
    }
  } catch (err) {
    post({ id, error: carryError(err) })
  }
}
