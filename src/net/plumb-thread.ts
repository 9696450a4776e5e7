// Endpoint plumbing on a thread of its own (a Worker running ./plumb-worker.ts). Plumbing is
// synchronous kernel work: creating a veth pair, moving its end into the sandbox, addressing
// it, each a netlink request the kernel handles inside send() (under RTNL). On the agent's
// thread, with 1,000 endpoints converging on 3 hosts, that was a third of the agent's time
// (bench control plane, CPU profile: netlink send 20 %, plumbEndpoint 12 %), and the API, the
// store's answers and the rest of each attach (maps, tc) waited behind it. On its own thread the
// kernel work runs while the agent's thread goes on; requests are answered in order.
//
// The thread is made on first use and keeps the process alive only while a request is under way. Errors come back
// as the same classes with the same codes (the API maps them to statuses).
import { ConflictError, NotFoundError, ValidationError, WeftError } from '../errors/index.ts'
import type { PlumbedEndpoint, PlumbSpec } from './endpoint.ts'
import { NetlinkError } from './netlink.ts'

type PlumbAsk = { op: 'plumb'; spec: PlumbSpec }
export type ToPlumbThread = PlumbAsk & { id: number }

/** A failure as it crosses the thread boundary. */
export interface CarriedError {
  name: string
  message: string
  code?: string
  netlink?: { op: string; errno: number; reason: string }
}

export type FromPlumbThread =
  { id: number; ok: PlumbedEndpoint | null } | { id: number; error: CarriedError }

export function carryError(e: unknown): CarriedError {
  if (e instanceof NetlinkError)
    return {
      name: e.name,
      message: e.message,
      code: e.code,
      netlink: { op: e.op, errno: e.errno, reason: e.reason },
    }
  if (e instanceof WeftError) return { name: e.name, message: e.message, code: e.code }
  if (e instanceof Error) return { name: e.name, message: e.message }
  return { name: 'Error', message: String(e) }
}

/** The error a CarriedError stands for, as the plumbing thread threw it. */
export function uncarryError(c: CarriedError): Error {
  if (c.netlink) return new NetlinkError(c.netlink.op, c.netlink.errno, c.netlink.reason, c.code)
  switch (c.name) {
    case 'ValidationError':
      return new ValidationError(c.message, c.code)
    case 'NotFoundError':
      return new NotFoundError(c.message, c.code)
    case 'ConflictError':
      return new ConflictError(c.message, c.code)
  }
  if (c.code !== undefined) return new WeftError(c.code, c.message)
  const e = new Error(c.message)
  e.name = c.name
  return e
}

/**
 * The worker's module: ./plumb-worker.ts from source; in dist/weft the entry point compile.ts
 * bundles beside main (the embedded file system is rooted at src/).
 */
function workerEntry(): string {
  if (!Bun.main.startsWith('/$bunfs/')) return new URL('./plumb-worker.ts', import.meta.url).href
  return `${Bun.main.slice(0, Bun.main.lastIndexOf('/'))}/net/plumb-worker.js`
}

let worker: Worker | undefined
let nextId = 1
const pending = new Map<
  number,
  { resolve: (p: PlumbedEndpoint | null) => void; reject: (e: Error) => void }
>()

function thread(): Worker {
  if (worker) return worker
  const w = new Worker(workerEntry())
  w.onmessage = (e: MessageEvent<FromPlumbThread>) => {
    const m = e.data
    const p = pending.get(m.id)
    if (!p) return
    pending.delete(m.id)
    if (pending.size === 0) w.unref()
    if ('ok' in m) p.resolve(m.ok)
    else p.reject(uncarryError(m.error))
  }
  w.onerror = (e) => {
    // every request under way fails with the cause; the next one starts a new thread
    const err = new WeftError(
      'plumb_thread_failed',
      `the endpoint plumbing thread failed: ${e.message}`,
    )
    for (const p of pending.values()) p.reject(err)
    pending.clear()
    if (worker === w) worker = undefined
    w.terminate()
  }
  w.unref()
  worker = w
  return w
}

function ask(m: PlumbAsk): Promise<PlumbedEndpoint | null> {
  const w = thread()
  const id = nextId++
  return new Promise((resolve, reject) => {
    // held open while it has work: an answer still to come keeps the process alive
    if (pending.size === 0) w.ref()
    pending.set(id, { resolve, reject })
    w.postMessage({ ...m, id } satisfies ToPlumbThread)
  })
}

/** plumbEndpoint (./endpoint.ts) on the plumbing thread: the same result, the same errors. */
export async function plumbEndpointInThread(spec: PlumbSpec): Promise<PlumbedEndpoint> {
  return (await ask({ op: 'plumb', spec }))!
}
