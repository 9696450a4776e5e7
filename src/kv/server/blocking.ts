// Blocking-query driver: evaluate, and while the result index is not above ?index, park on
// the notifier until a matching commit, the wait deadline or a client disconnect; then answer
// with the current state (Consul: a wake is no promise of change, the re-check decides).
//
// A parked query is held as one record (ParkedQuery: the read, ?index, the deadline, the
// promise's resolve) parked on the notifier, whose one timer serves every deadline: no async
// frames, promise chain or Timeout of its own for the minutes it waits. At 1,000 endpoints per
// host each host parks a long poll per network it follows (~300 at 1,000 / 100), and a store of
// a large cluster holds one per host and network: it held ~26 closures, ~7 promises and a
// Timeout each (bench/results/store-host-rss-2026-12-03.md).
import type { CommitEvent } from './engine.ts'
import { errorResponse, type Blocking, type Ctx, type ServerCtx } from './http.ts'
import type { Waiter } from './notifier.ts'

/** A blocking read: evaluate it, tell the commits that may change it, and answer with a result. */
export interface BlockingRead<R extends { index: bigint }> {
  /** A prefix of every key `matches` can match (see Notifier.park): KV reads name their key. */
  readonly interest?: string
  matches(e: CommitEvent): boolean
  run(): R
  answer(r: R): Response
}

/**
 * Answer `q` now if `b` does not block or its result is past ?index; otherwise the promise of
 * its answer once it is (or the wait ends). A parked query's answer comes with what the server
 * adds to every response (ServerCtx.respond), an error it throws as its error response.
 */
export function blockingQuery<R extends { index: bigint }>(
  c: Ctx,
  ctx: ServerCtx,
  b: Blocking,
  q: BlockingRead<R>,
): Response | Promise<Response> {
  const r = q.run()
  if (b.minIndex === 0n || r.index > b.minIndex || ctx.closing || b.waitMs <= 0) return q.answer(r)
  const signal = c.req.raw.signal
  if (signal.aborted) return q.answer(r)
  // Long-poll: lift Bun's idle timeout for this request (default 10 s would cut it).
  c.env?.server?.timeout(c.req.raw, 0)
  return new Promise<Response>((resolve) => {
    new ParkedQuery(ctx, q, b.minIndex, performance.now() + b.waitMs, signal, resolve)
  })
}

/** A parked request's answer nobody reads (its client went away). */
const aborted = () => new Response(null, { status: 499 })

class ParkedQuery<R extends { index: bigint }> implements Waiter {
  constructor(
    private readonly ctx: ServerCtx,
    private readonly q: BlockingRead<R>,
    private readonly minIndex: bigint,
    private readonly deadline: number,
    private readonly signal: AbortSignal,
    private readonly resolve: (res: Response) => void,
  ) {
    ctx.notifier.park(this, deadline - performance.now(), q.interest)
    // the object itself listens (handleEvent): no closure per parked request
    signal.addEventListener('abort', this)
  }

  matches(e: CommitEvent): boolean {
    return this.q.matches(e)
  }

  wake(o: 'woken' | 'timeout'): void {
    try {
      const r = this.q.run()
      const left = this.deadline - performance.now()
      if (o === 'woken' && r.index <= this.minIndex && left > 0 && !this.ctx.closing) {
        // woken by a commit that left this read's index where it was: wait on
        this.ctx.notifier.park(this, left, this.q.interest)
        return
      }
      this.settle()
      this.resolve(this.ctx.respond(this.q.answer(r)))
    } catch (e) {
      this.settle()
      this.resolve(this.ctx.respond(errorResponse(e)))
    }
  }

  /** The request's signal: its client went away. */
  handleEvent(): void {
    if (!this.ctx.notifier.unpark(this)) return
    this.settle()
    this.resolve(aborted())
  }

  private settle(): void {
    this.signal.removeEventListener('abort', this)
  }
}
