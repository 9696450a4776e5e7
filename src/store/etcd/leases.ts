// Node liveness on etcd leases. etcd leases have no names, so each lease is also written as
// weft/leases/<name>/<id> bound to itself: revokeNamed finds what an earlier process of the
// same name left behind. The key sits outside weft/v1/, so no agent's mirror ever holds it.
import type { KeepAlive, StoreLeases } from '../types.ts'
import { b64, prefixEnd, rev, unb64, type EtcdGateway } from './gateway.ts'
import { EtcdServerError } from './errors.ts'
import type { EtcdKv } from './txn.ts'

export const LEASE_NAMES = 'weft/leases/'

/** etcd counts lease TTLs in whole seconds. */
const ttlSeconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000))

const leaseGone = (e: unknown) => e instanceof EtcdServerError && e.grpcCode === 5

export function etcdLeases(gw: EtcdGateway): StoreLeases {
  const revoke = async (id: string) => {
    try {
      await gw.call('/v3/lease/revoke', { ID: id }, { write: true })
    } catch (e) {
      if (!leaseGone(e)) throw e // already gone: revoked is what we wanted
    }
  }
  return {
    async grant({ name, ttlMs }) {
      const g = await gw.call<{ ID: string }>(
        '/v3/lease/grant',
        { TTL: ttlSeconds(ttlMs) },
        { write: true },
      )
      await gw.call(
        '/v3/kv/put',
        { key: b64(`${LEASE_NAMES}${name}/${g.ID}`), value: b64(name), lease: g.ID },
        { write: true },
      )
      return g.ID
    },

    async revokeNamed(name) {
      const prefix = `${LEASE_NAMES}${name}/`
      const r = await gw.call<{ kvs?: EtcdKv[] }>('/v3/kv/range', {
        key: b64(prefix),
        range_end: prefixEnd(prefix),
        keys_only: true,
      })
      for (const kv of r.kvs ?? []) await revoke(unb64(kv.key).slice(prefix.length))
    },

    revoke,

    async claim(key, value, leaseId) {
      // take the key if it is absent, unbound, or already ours; a CAS race is read again
      for (let attempt = 0; attempt < 8; attempt++) {
        const r = await gw.call<{ kvs?: EtcdKv[] }>('/v3/kv/range', { key: b64(key) })
        const held = r.kvs?.[0]
        if (held && held.lease && held.lease !== '0' && held.lease !== leaseId) return false
        const reply = await gw
          .call<{ succeeded?: boolean }>(
            '/v3/kv/txn',
            {
              compare: [
                {
                  key: b64(key),
                  target: 'MOD',
                  result: 'EQUAL',
                  mod_revision: rev(held?.mod_revision).toString(),
                },
              ],
              success: [{ request_put: { key: b64(key), value: b64(value), lease: leaseId } }],
              failure: [],
            },
            { write: true },
          )
          .catch((e: unknown) => {
            if (leaseGone(e))
              throw new Error(`lease ${leaseId} is gone (expired or revoked): grant a new one`, {
                cause: e,
              })
            throw e
          })
        if (reply.succeeded) return true
      }
      throw new Error(
        `claim ${key}: the key kept changing under 8 attempts; is another agent using the same --name?`,
      )
    },

    keepAlive(id, ttlMs, h): KeepAlive {
      const ac = new AbortController()
      const onAbort = () => ac.abort()
      h.signal?.addEventListener('abort', onAbort, { once: true })
      const every = Math.max(100, Math.floor(ttlMs / 3))
      const done = (async () => {
        try {
          while (!ac.signal.aborted) {
            await pause(every, ac.signal)
            if (ac.signal.aborted) return
            try {
              const r = await gw.call<{ result?: { TTL?: string }; error?: unknown }>(
                '/v3/lease/keepalive',
                { ID: id },
                { signal: ac.signal },
              )
              // etcd answers a lease it does not know with TTL 0 (left out of the JSON)
              if (rev(r.result?.TTL) <= 0n) return h.onLost?.()
            } catch (e) {
              if (ac.signal.aborted) return
              if (leaseGone(e)) return h.onLost?.()
              h.onError?.(e)
            }
          }
        } finally {
          h.signal?.removeEventListener('abort', onAbort)
        }
      })()
      return { stop: () => ac.abort(), done }
    },
  }
}

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms)
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true })
  })
}
