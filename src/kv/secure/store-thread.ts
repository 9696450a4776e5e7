// The embedded store on a thread of its own (a Worker). On the agent's thread, every store
// request of every host waited behind the agent's synchronous kernel work (plumbing veths,
// reading sandbox ends, BPF map dumps, the store's own fsync): with 1,000 endpoints converging
// on 3 hosts, store requests took 60-120 ms in the handler and up to 5 s end to end (bench
// control plane). On its own thread the store answers while the agent works.
import { ValidationError } from '../../errors/index.ts'
import type { EmbeddedStoreOptions } from './store-access.ts'
import type { StoreClientOptions } from './cluster-secret.ts'
import type { TransportOptions } from '../client/http.ts'

export type ToStoreThread =
  | {
      type: 'start'
      options: Omit<EmbeddedStoreOptions, 'onBackgroundError'>
      /** Also serve the store on this unix socket, for this host's own client. */
      localSocket?: string
      /** Test-only: the thread throws once this file exists (WEFT_TEST_STORE_THREAD_FAULT). */
      faultFile?: string
    }
  | { type: 'stop' }
  | { type: 'memory'; id: number; collect: boolean }

/** The store thread's own JS heap (its VM is not the agent's: the agent's heap figures miss it). */
export interface StoreThreadMemory {
  heapSize: number
  heapCapacity: number
  extraMemorySize: number
  /** parked blocking queries */
  waiters: number
  keys: number
  /** requests answered on the local unix socket (this host's own client) */
  localRequests: number
  /** the most common live object types, [type, count] */
  objects: [string, number][]
}

export type FromStoreThread =
  | {
      type: 'started'
      url: string
      port: number
      clientOptions: StoreClientOptions
      localClientOptions?: LocalClientOptions
      joinCommand: string
    }
  | { type: 'failed'; name: string; message: string }
  | { type: 'background-error'; what: string; message: string }
  | { type: 'stopped'; error?: string }
  | { type: 'memory'; id: number; memory: StoreThreadMemory }

/** This host's own client over the unix socket: plain http, the same token. */
export type LocalClientOptions = Pick<TransportOptions, 'address' | 'token' | 'unix'>

export interface ThreadedEmbeddedStore {
  url: string
  port: number
  /** This host's own client of the store (https, token, the CA it holds). */
  clientOptions: StoreClientOptions
  /** With `localSocket`: the same client over the unix socket, what this host's agent uses. */
  localClientOptions?: LocalClientOptions
  /** `weft agent --store consul://ADDR:PORT --join-token …`, to print for the operator. */
  joinCommand: string
  /** The thread's heap; `collect` runs a full collection there first (a measuring aid). */
  memory(collect?: boolean): Promise<StoreThreadMemory>
  /**
   * Resolves when the thread ends while nobody stopped it (an uncaught error, an exit): this
   * host's store then answers no one, so the agent exits and its supervisor restarts it.
   */
  ended: Promise<StoreThreadEndedError>
  /** Stop serving and close the store's database; then the thread ends. */
  stop(): Promise<void>
}

/**
 * The store's thread ended on its own. Not restarted in place: the store's database and its
 * listeners belong to that thread, and Bun (1.4.5) may keep a dead Worker's listening socket
 * bound for the life of the process, so a new thread could not take the port again; a new
 * process can, and the datapath stays programmed meanwhile (live restore).
 */
export class StoreThreadEndedError extends Error {
  override name = 'StoreThreadEndedError'
  constructor(
    readonly exitCode: number | undefined,
    readonly thrown?: string,
  ) {
    super(
      `the embedded store's thread ended (exit code ${exitCode ?? 'unknown'})${thrown ? `: ${thrown}` : ''}; ` +
        "this host's store no longer answers anyone: the agent exits so that its supervisor starts it again (the datapath stays programmed)",
    )
  }
}

/**
 * The worker's module: this directory's store-worker.ts from source; in dist/weft the entry
 * point compile.ts bundles beside main (the embedded file system is rooted at src/).
 */
function workerEntry(): string {
  if (!Bun.main.startsWith('/$bunfs/')) return new URL('./store-worker.ts', import.meta.url).href
  return `${Bun.main.slice(0, Bun.main.lastIndexOf('/'))}/kv/secure/store-worker.js`
}

/** serveEmbeddedStore on its own thread: resolves once it listens, rejects with its error. */
export async function serveEmbeddedStoreInThread(
  o: EmbeddedStoreOptions & { localSocket?: string },
): Promise<ThreadedEmbeddedStore> {
  const { onBackgroundError, localSocket, ...options } = o
  const worker = new Worker(workerEntry())
  let stopped: ((error?: string) => void) | undefined
  const memoryAsked = new Map<
    number,
    { resolve(m: StoreThreadMemory): void; reject(e: Error): void }
  >()
  let memoryId = 0
  let stopping: Promise<void> | undefined
  // the thread's last uncaught error: what a thread that ends on its own died of
  let lastError: string | undefined
  let gone = false
  let endedAlone!: (e: StoreThreadEndedError) => void
  const ended = new Promise<StoreThreadEndedError>((resolve) => (endedAlone = resolve))
  const started = new Promise<Extract<FromStoreThread, { type: 'started' }>>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<FromStoreThread>) => {
      const m = e.data
      if (m.type === 'started') resolve(m)
      else if (m.type === 'failed')
        reject(m.name === 'ValidationError' ? new ValidationError(m.message) : new Error(m.message))
      else if (m.type === 'background-error') onBackgroundError?.(m.what, new Error(m.message))
      else if (m.type === 'stopped') stopped?.(m.error)
      else if (m.type === 'memory') {
        memoryAsked.get(m.id)?.resolve(m.memory)
        memoryAsked.delete(m.id)
      }
    }
    worker.onerror = (e) => {
      lastError = thrownText(e.message)
      const err = new Error(`the embedded store's thread failed: ${lastError}`)
      reject(err)
      onBackgroundError?.("the embedded store's thread failed", err)
    }
    // Bun's 'close' carries the thread's exit code; it comes for every end, asked for or not
    worker.addEventListener('close', (e) => {
      gone = true
      const code = (e as Event & { code?: number }).code
      const err = new StoreThreadEndedError(code, lastError)
      // questions in flight get no answer from a thread that is gone
      for (const asked of memoryAsked.values()) asked.reject(err)
      memoryAsked.clear()
      reject(err) // before 'started': the start fails with it
      if (stopping) stopped?.()
      else endedAlone(err)
    })
  })
  // read here: a Worker sees the environment the process started with, not later changes
  const faultFile = process.env.WEFT_TEST_STORE_THREAD_FAULT || undefined
  worker.postMessage({ type: 'start', options, localSocket, faultFile } satisfies ToStoreThread)
  let s: Awaited<typeof started>
  try {
    s = await started
  } catch (e) {
    worker.terminate()
    throw e
  }
  return {
    url: s.url,
    port: s.port,
    clientOptions: s.clientOptions,
    localClientOptions: s.localClientOptions,
    joinCommand: s.joinCommand,
    ended,
    memory: (collect = false) =>
      new Promise<StoreThreadMemory>((resolve, reject) => {
        if (stopping) return reject(new Error('the embedded store is stopping'))
        if (gone) return reject(new Error("the embedded store's thread has ended"))
        const id = ++memoryId
        memoryAsked.set(id, { resolve, reject })
        worker.postMessage({ type: 'memory', id, collect } satisfies ToStoreThread)
      }),
    stop: () =>
      (stopping ??= new Promise<void>((resolve, reject) => {
        // a thread that ended on its own has nothing left to stop (ended said why)
        if (gone) return resolve()
        // a thread that does not answer is ended anyway: the agent's stop must not hang on it
        const timer = setTimeout(() => stopped?.('its thread did not stop within 10 s'), 10_000)
        stopped = (error) => {
          clearTimeout(timer)
          worker.terminate()
          if (error) reject(new Error(`stopping the embedded store: ${error}`))
          else resolve()
        }
        worker.postMessage({ type: 'stop' } satisfies ToStoreThread)
      })),
  }
}

/**
 * What a Worker's uncaught error says, without the source excerpt Bun (1.4.5) puts in the
 * event's message (its `error` is null): the "error: …" line and the first frame after it.
 */
export function thrownText(message: string): string {
  const lines = message.split('\n').map((l) => l.trim())
  const at = lines.findIndex((l) => /^(?:[A-Za-z]*Error|error): /.test(l))
  if (at < 0) return message.trim()
  const frame = lines.slice(at + 1).find((l) => l.startsWith('at '))
  return frame ? `${lines[at]} (${frame})` : lines[at]!
}
