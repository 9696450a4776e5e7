// Blocking-query driver: evaluate, and while the result index is not above ?index,
// park on the notifier until a matching commit, the wait deadline or a client disconnect.
import type { CommitEvent } from './engine.ts'
import type { Blocking, Ctx, ServerCtx } from './http.ts'

export async function blockingQuery<R extends { index: bigint }>(
  c: Ctx,
  ctx: ServerCtx,
  b: Blocking,
  matches: (e: CommitEvent) => boolean,
  run: () => R,
  /** A prefix of every key `matches` can match (see Notifier.wait): KV reads name their key. */
  interest?: string,
): Promise<R> {
  let r = run()
  if (b.minIndex === 0n || r.index > b.minIndex) return r
  // Long-poll: lift Bun's idle timeout for this request (default 10 s would cut it).
  c.env?.server?.timeout(c.req.raw, 0)
  const deadline = performance.now() + b.waitMs
  const signal = c.req.raw.signal
  for (;;) {
    const left = deadline - performance.now()
    if (left <= 0 || ctx.closing) return r
    const outcome = await ctx.notifier.wait(matches, left, signal, interest)
    r = run()
    if (outcome !== 'woken' || r.index > b.minIndex) return r
  }
}
