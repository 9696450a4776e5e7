// The embedded store on a thread of its own (a Worker). On the agent's thread, every store
// request of every host waited behind the agent's synchronous kernel work (plumbing veths,
// reading sandbox ends, BPF map dumps, the store's own fsync): with 1,000 endpoints converging
// on 3 hosts, store requests took 60-120 ms in the handler and up to 5 s end to end (bench
// control plane). On its own thread the store answers while the agent works.
import { ValidationError } from '../../errors/index.ts'
import type { EmbeddedStoreOptions } from './store-access.ts'
import type { StoreClientOptions } from './cluster-secret.ts'

export type ToStoreThread =
  { type: 'start'; options: Omit<EmbeddedStoreOptions, 'onBackgroundError'> } | { type: 'stop' }

export type FromStoreThread =
  | {
      type: 'started'
      url: string
      port: number
      clientOptions: StoreClientOptions
      joinCommand: string
    }
  | { type: 'failed'; name: string; message: string }
  | { type: 'background-error'; what: string; message: string }
  | { type: 'stopped'; error?: string }

export interface ThreadedEmbeddedStore {
  url: string
  port: number
  /** This host's own client of the store (https, token, the CA it holds). */
  clientOptions: StoreClientOptions
  /** `weft agent --store consul://ADDR:PORT --join-token …`, to print for the operator. */
  joinCommand: string
  /** Stop serving and close the store's database; then the thread ends. */
  stop(): Promise<void>
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
  o: EmbeddedStoreOptions,
): Promise<ThreadedEmbeddedStore> {
  const { onBackgroundError, ...options } = o
  const worker = new Worker(workerEntry())
  let stopped: ((error?: string) => void) | undefined
  const started = new Promise<Extract<FromStoreThread, { type: 'started' }>>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<FromStoreThread>) => {
      const m = e.data
      if (m.type === 'started') resolve(m)
      else if (m.type === 'failed')
        reject(m.name === 'ValidationError' ? new ValidationError(m.message) : new Error(m.message))
      else if (m.type === 'background-error') onBackgroundError?.(m.what, new Error(m.message))
      else if (m.type === 'stopped') stopped?.(m.error)
    }
    worker.onerror = (e) => {
      const err = new Error(`the embedded store's thread failed: ${e.message}`)
      reject(err)
      onBackgroundError?.("the embedded store's thread failed", err)
    }
  })
  worker.postMessage({ type: 'start', options } satisfies ToStoreThread)
  let s: Awaited<typeof started>
  try {
    s = await started
  } catch (e) {
    worker.terminate()
    throw e
  }
  let stopping: Promise<void> | undefined
  return {
    url: s.url,
    port: s.port,
    clientOptions: s.clientOptions,
    joinCommand: s.joinCommand,
    stop: () =>
      (stopping ??= new Promise<void>((resolve, reject) => {
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
