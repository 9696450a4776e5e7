// The embedded store's thread (see store-thread.ts): serves the store with serveEmbeddedStore
// and answers the agent's thread with what it needs; stops when asked. Nothing else runs here,
// so the store answers every host while the agent's own thread waits on the kernel.
import {
  serveEmbeddedStore,
  type EmbeddedStore,
  type EmbeddedStoreOptions,
} from './store-access.ts'
import { heapStats } from 'bun:jsc'
import { appendFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { serveLocalSocket, type LocalSocket } from './local-socket.ts'
import { startStoreProfile, type StoreProfile } from './store-profile.ts'
import type { FromStoreThread, StoreThreadMemory, ToStoreThread } from './store-thread.ts'

declare const self: Worker
const post = (m: FromStoreThread) => self.postMessage(m)
let store: EmbeddedStore | undefined
let local: LocalSocket | undefined
// a measuring aid (see store-profile.ts): off unless WEFT_STORE_PROFILE names a directory
const profileDir = process.env.WEFT_STORE_PROFILE
const profile: StoreProfile | undefined = profileDir ? startStoreProfile(profileDir) : undefined
// a measuring aid: each memory question (a /metrics scrape) appends the thread's whole heap
// census and what the store holds to WEFT_STORE_CENSUS/store-census-PID.jsonl
const censusDir = process.env.WEFT_STORE_CENSUS
/**
 * Test-only (WEFT_TEST_STORE_THREAD_FAULT, passed in by store-thread.ts): once `file` exists,
 * this thread throws an error nothing catches, as a bug would (test/agent/store-thread-ends.test.ts).
 */
function faultWhen(file: string): void {
  const check = setInterval(() => {
    if (!existsSync(file)) return
    clearInterval(check)
    throw new Error(`a test fault (${file} exists)`)
  }, 100)
  check.unref()
}

self.onmessage = async (e: MessageEvent<ToStoreThread>) => {
  const m = e.data
  if (m.type === 'start') {
    if (m.faultFile) faultWhen(m.faultFile)
    const o: EmbeddedStoreOptions = {
      ...m.options,
      onBackgroundError: (what, err) =>
        post({ type: 'background-error', what, message: errorText(err) }),
    }
    try {
      store = await serveEmbeddedStore(o)
      try {
        if (m.localSocket) local = serveLocalSocket(store.served.server, m.localSocket)
      } catch (err) {
        await store.stop()
        store = undefined
        throw err
      }
      post({
        type: 'started',
        url: store.served.url,
        port: store.served.port,
        clientOptions: store.clientOptions,
        // the URL's host only names the store in errors: the socket is where requests go
        ...(local
          ? {
              localClientOptions: {
                address: 'http://local-store',
                token: store.clientOptions.token,
                unix: local.path,
              },
            }
          : {}),
        joinCommand: store.joinCommand,
      })
    } catch (err) {
      post({ type: 'failed', name: (err as Error).name, message: errorText(err) })
    }
  } else if (m.type === 'memory') {
    post({ type: 'memory', id: m.id, memory: memory(m.collect) })
  } else if (m.type === 'stop') {
    try {
      // the socket first: its requests are answered by the store closed next
      await local?.stop()
      await store?.stop()
      profile?.stop()
      post({ type: 'stopped' })
    } catch (err) {
      post({ type: 'stopped', error: errorText(err) })
    }
  }
}

function memory(collect: boolean): StoreThreadMemory {
  // the census also notes the heap as found, before this question's collection
  const asFound = censusDir ? heapStats() : undefined
  if (collect) Bun.gc(true)
  const h = heapStats()
  const stats = store?.served.stats()
  if (censusDir) writeCensus(censusDir, h, asFound!)
  return {
    heapSize: h.heapSize,
    heapCapacity: h.heapCapacity,
    extraMemorySize: h.extraMemorySize,
    waiters: stats?.waiters ?? 0,
    keys: stats?.keys ?? 0,
    localRequests: local?.requests() ?? 0,
    objects: Object.entries(h.objectTypeCounts)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 15),
  }
}

function writeCensus(
  dir: string,
  h: ReturnType<typeof heapStats>,
  asFound: ReturnType<typeof heapStats>,
): void {
  const line = {
    at: new Date().toISOString(),
    asFound: {
      heapSize: asFound.heapSize,
      heapCapacity: asFound.heapCapacity,
      extraMemorySize: asFound.extraMemorySize,
    },
    heapSize: h.heapSize,
    heapCapacity: h.heapCapacity,
    extraMemorySize: h.extraMemorySize,
    objectCount: h.objectCount,
    store: store?.served.server.census(),
    objects: Object.fromEntries(Object.entries(h.objectTypeCounts).sort((a, b) => b[1] - a[1])),
  }
  appendFileSync(join(dir, `store-census-${process.pid}.jsonl`), JSON.stringify(line) + '\n')
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))
