// Sessions: create/renew/destroy, TTL timers (invalidate at 2 x TTL after the last renew,
// re-armed at full length on server start, like a Consul leader change), and lock-delay
// (memory only). Invalidation releases or deletes the held keys in the same write.
import { randomUUID } from 'node:crypto'
import type { KvEntry, SessionBehavior, SessionInfo } from '../types.ts'
import { parseGoDuration } from '../duration.ts'
import { emptyChange, type KvEngine } from './engine.ts'

export const MAX_LOCK_DELAY_NS = 60_000_000_000n
const DEFAULT_LOCK_DELAY_NS = 15_000_000_000n
const TTL_MAX_NS = 24 * 3600e9
export const SESSION_TTL_MULTIPLIER = 2

/** A client mistake in a session request: Consul answers these with 500 (see design notes). */
export class SessionRequestError extends Error {}

export interface CreateSessionInput {
  name?: unknown
  node?: unknown
  lockDelay?: unknown
  behavior?: unknown
  ttl?: unknown
  checks?: unknown
  nodeChecks?: unknown
  serviceChecks?: unknown
}

export class SessionManager {
  private readonly timers = new Map<string, ReturnType<typeof setTimeout>>()
  /** key -> epoch ms until which `acquire` fails. */
  private readonly lockDelays = new Map<string, number>()

  constructor(
    private readonly engine: KvEngine,
    private readonly opts: { nodeName: string; ttlMinMs: number },
  ) {
    for (const s of engine.sessions.values()) this.arm(s)
  }

  inLockDelay(key: string): boolean {
    const until = this.lockDelays.get(key)
    if (until === undefined) return false
    if (Date.now() < until) return true
    this.lockDelays.delete(key)
    return false
  }

  async create(input: CreateSessionInput): Promise<string> {
    const behavior = (
      input.behavior === undefined || input.behavior === '' ? 'release' : input.behavior
    ) as SessionBehavior
    if (behavior !== 'release' && behavior !== 'delete')
      throw new SessionRequestError(`Invalid Behavior setting '${String(input.behavior)}'`)
    const ttl = input.ttl === undefined || input.ttl === null ? '' : String(input.ttl)
    if (ttl !== '' && ttl !== '0') {
      const ns = parseGoDuration(ttl)
      if (ns === undefined)
        throw new SessionRequestError(
          `Session TTL '${ttl}' invalid: must be a duration such as "15s"`,
        )
      const minNs = this.opts.ttlMinMs * 1e6
      if (ns < minNs || ns > TTL_MAX_NS)
        throw new SessionRequestError(
          `Invalid Session TTL '${ttl}', must be between [${this.opts.ttlMinMs / 1000}s=24h0m0s]`,
        )
    }
    const lockDelayNs = parseLockDelay(input.lockDelay)
    const checks = input.nodeChecks ?? input.checks
    const nodeChecks =
      checks === undefined || checks === null
        ? ['serfHealth']
        : Array.isArray(checks)
          ? checks.map(String)
          : null
    if (nodeChecks === null)
      throw new SessionRequestError('NodeChecks must be an array of check IDs')
    const serviceChecks = Array.isArray(input.serviceChecks)
      ? (input.serviceChecks as SessionInfo['serviceChecks'])
      : null
    const id = randomUUID()
    const s = await this.engine.write((next) => {
      const info: SessionInfo = {
        id,
        name: input.name === undefined || input.name === null ? '' : String(input.name),
        node: typeof input.node === 'string' && input.node !== '' ? input.node : this.opts.nodeName,
        lockDelayNs,
        behavior,
        ttl: ttl === '0' ? '' : ttl,
        nodeChecks: nodeChecks.length === 0 ? null : nodeChecks,
        serviceChecks,
        createIndex: next,
        modifyIndex: next,
      }
      const change = emptyChange()
      change.sessionsPut.push(info)
      return { change, result: info }
    })
    this.arm(s)
    return id
  }

  /** Restart the TTL timer; undefined when the session does not exist. */
  renew(id: string): SessionInfo | undefined {
    const s = this.engine.sessions.get(id)
    if (!s) return undefined
    this.arm(s)
    return s
  }

  /** Invalidate a session: release or delete its keys, start their lock-delay. Idempotent. */
  async destroy(id: string): Promise<void> {
    const clear = this.timers.get(id)
    if (clear) clearTimeout(clear)
    this.timers.delete(id)
    await this.engine.write((next) => {
      const s = this.engine.sessions.get(id)
      const change = emptyChange()
      if (!s) return { change, result: undefined }
      change.sessionsDelete.push(id)
      const keys: string[] = []
      for (const e of this.engine.entries.values()) {
        if (e.session !== id) continue
        keys.push(e.key)
        if (s.behavior === 'delete') change.kv.set(e.key, null)
        else {
          const released: KvEntry = { ...e, modifyIndex: next }
          delete released.session
          change.kv.set(e.key, released)
        }
      }
      const delayMs = Number(
        (s.lockDelayNs > MAX_LOCK_DELAY_NS ? MAX_LOCK_DELAY_NS : s.lockDelayNs) / 1_000_000n,
      )
      // Set inside the serialized write so no acquire can slip in between commit and delay.
      if (delayMs > 0) for (const k of keys) this.lockDelays.set(k, Date.now() + delayMs)
      return { change, result: undefined }
    })
  }

  private arm(s: SessionInfo): void {
    const old = this.timers.get(s.id)
    if (old) clearTimeout(old)
    this.timers.delete(s.id)
    if (!s.ttl) return
    const ns = parseGoDuration(s.ttl)
    if (!ns) return
    const t = setTimeout(
      () => {
        this.timers.delete(s.id)
        this.destroy(s.id).catch(() => undefined)
      },
      (ns / 1e6) * SESSION_TTL_MULTIPLIER,
    )
    this.timers.set(s.id, t)
  }

  close(): void {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
  }
}

/** LockDelay: Go duration string, or a number (< 1000 means seconds, else nanoseconds). Default 15 s. */
function parseLockDelay(v: unknown): bigint {
  if (v === undefined || v === null || v === '') return DEFAULT_LOCK_DELAY_NS
  if (typeof v === 'number' || typeof v === 'bigint') {
    const n = BigInt(typeof v === 'number' ? Math.trunc(v) : v)
    if (n < 0n) throw new SessionRequestError('LockDelay must not be negative')
    return n < 1000n ? n * 1_000_000_000n : n
  }
  if (typeof v === 'string') {
    const ns = parseGoDuration(v)
    if (ns === undefined || ns < 0)
      throw new SessionRequestError(`Request decode failed: invalid LockDelay '${v}'`)
    return BigInt(Math.round(ns))
  }
  throw new SessionRequestError('Request decode failed: invalid LockDelay')
}
