// etcd's watch as store events: the prefix is read once (a snapshot at revision R), then the
// watch stream from R+1 delivers deltas. After a disconnect the stream resumes from the last
// delivered revision (on the next member); when etcd has compacted past it, the prefix is read
// again (a full resync) and the stream starts over from there.
import type { StoreEntry, StoreWatch, WatchEvent, WatchHandlers } from '../types.ts'
import { b64, prefixEnd, rev, unb64, type EtcdGateway } from './gateway.ts'
import { entryOf, type EtcdKv } from './txn.ts'

interface WatchResult {
  header?: { revision?: string }
  created?: boolean
  canceled?: boolean
  compact_revision?: string
  cancel_reason?: string
  events?: { type?: 'PUT' | 'DELETE'; kv: EtcdKv }[]
}

/** The etcd watch was cancelled because its start revision is compacted away. */
class Compacted extends Error {}

export interface EtcdWatchOptions {
  /** Longest pause between failed rounds (default 2 s). */
  maxBackoffMs?: number
  /** How often the member a stream follows is asked whether it still answers (default 3 s). */
  probeMs?: number
}

export function etcdWatch(
  gw: EtcdGateway,
  prefix: string,
  onEvent: (e: WatchEvent) => void | Promise<void>,
  h: WatchHandlers = {},
  o: EtcdWatchOptions = {},
): StoreWatch {
  const ac = new AbortController()
  /** The last revision delivered; undefined: the next round starts with a snapshot. */
  let delivered: bigint | undefined
  let backoff = 100
  /** The current stream follows an earlier one (not a snapshot read just before it). */
  let resumed = false

  const snapshot = async () => {
    const reply = await gw.call(
      '/v3/kv/range',
      { key: b64(prefix), range_end: prefixEnd(prefix) },
      { signal: ac.signal },
    )
    const entries: StoreEntry[] = (reply.kvs ?? []).map(entryOf)
    const revision = rev(reply.header?.revision)
    await onEvent({ kind: 'snapshot', entries, revision })
    delivered = revision
  }

  /**
   * Follow one member's stream until it ends; never resolves, throws why it ended. A quiet
   * stream cannot tell "nothing changed" from "cut off", so the member is probed meanwhile
   * (a linearizable read: it also fails when the member lost its quorum).
   */
  const stream = async (member: string, from: bigint) => {
    const streamAc = new AbortController()
    const end = () => streamAc.abort()
    ac.signal.addEventListener('abort', end, { once: true })
    let probeFailed: unknown
    void (async () => {
      while (!streamAc.signal.aborted) {
        await pause(o.probeMs ?? 3000, streamAc.signal)
        if (streamAc.signal.aborted) return
        try {
          await gw.callMember(
            member,
            '/v3/kv/range',
            { key: b64(prefix), count_only: true, limit: 1 },
            streamAc.signal,
          )
          h.onAnswer?.()
        } catch (e) {
          if (streamAc.signal.aborted) return
          probeFailed = e
          return streamAc.abort()
        }
      }
    })()
    try {
      const res = await fetch(`${member}/v3/watch`, {
        ...gw.fetchOpts(streamAc.signal),
        method: 'POST',
        headers: await gw.headers(member, streamAc.signal),
        body: JSON.stringify({
          create_request: {
            key: b64(prefix),
            range_end: prefixEnd(prefix),
            start_revision: from.toString(),
          },
        }),
      })
      if (!res.ok || !res.body)
        throw new Error(
          `etcd ${member} /v3/watch: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`,
        )
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffered = ''
      for (;;) {
        const { value, done } = await reader.read()
        if (done) throw new Error(`etcd ${member} closed the watch stream`)
        buffered += value
        let nl: number
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const line = buffered.slice(0, nl).trim()
          buffered = buffered.slice(nl + 1)
          if (line) await handle(member, JSON.parse(line))
        }
      }
    } catch (e) {
      if (probeFailed !== undefined) {
        throw new Error(
          `etcd ${member} stopped answering (${(probeFailed as Error).message ?? probeFailed}); following the watch on another member`,
          { cause: probeFailed },
        )
      }
      throw e
    } finally {
      streamAc.abort()
      ac.signal.removeEventListener('abort', end)
    }
  }

  const handle = async (
    member: string,
    msg: { result?: WatchResult; error?: { message?: string } },
  ) => {
    if (msg.error || !msg.result)
      throw new Error(
        `etcd ${member} watch: ${msg.error?.message ?? JSON.stringify(msg).slice(0, 200)}`,
      )
    const r = msg.result
    if (r.canceled) {
      if (r.compact_revision && rev(r.compact_revision) > 0n)
        throw new Compacted(`etcd compacted to ${r.compact_revision}`)
      throw new Error(`etcd ${member} cancelled the watch: ${r.cancel_reason ?? 'no reason given'}`)
    }
    if (r.created) {
      backoff = 100
      h.onAnswer?.()
      // a stream resumed after a failure: tell the follower the store answers again (a wake-up
      // at the revision already delivered); after a fresh snapshot it knows already
      if (resumed) await onEvent({ kind: 'delta', put: [], deleted: [], revision: delivered! })
      return
    }
    if (!r.events?.length) {
      // a progress notification: everything up to the header's revision was sent
      const at = rev(r.header?.revision)
      if (at > delivered!) delivered = at
      return
    }
    // the last event of a key wins; a delta's revision is the newest event's
    const last = new Map<string, StoreEntry | null>()
    let newest = delivered!
    for (const ev of r.events) {
      const key = unb64(ev.kv.key)
      const at = rev(ev.kv.mod_revision)
      if (at > newest) newest = at
      last.set(key, ev.type === 'DELETE' ? null : entryOf(ev.kv))
    }
    const put = [...last.values()].filter((e): e is StoreEntry => e !== null)
    const deleted = [...last].filter(([, e]) => e === null).map(([k]) => k)
    await onEvent({ kind: 'delta', put, deleted, revision: newest })
    delivered = newest
  }

  const done = (async () => {
    while (!ac.signal.aborted) {
      try {
        resumed = delivered !== undefined
        if (!resumed) await snapshot()
        const member = gw.inTurn()[0]!
        await stream(member, delivered! + 1n)
      } catch (e) {
        if (ac.signal.aborted) break
        if (e instanceof Compacted) {
          // not a failure of the store (it answered): read the whole prefix again, at once
          delivered = undefined
          continue
        }
        h.onError?.(e)
        gw.forgetAuth(gw.inTurn()[0]!) // an expired token ends a stream too
        gw.rotate()
        await pause(backoff, ac.signal)
        backoff = Math.min(backoff * 2, o.maxBackoffMs ?? 2000)
      }
    }
  })()

  return { stop: () => ac.abort(), done }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })
}
