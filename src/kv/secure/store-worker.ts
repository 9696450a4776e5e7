// The embedded store's thread (see store-thread.ts): serves the store with serveEmbeddedStore
// and answers the agent's thread with what it needs; stops when asked. Nothing else runs here,
// so the store answers every host while the agent's own thread waits on the kernel.
import {
  serveEmbeddedStore,
  type EmbeddedStore,
  type EmbeddedStoreOptions,
} from './store-access.ts'
import type { FromStoreThread, ToStoreThread } from './store-thread.ts'

declare const self: Worker
const post = (m: FromStoreThread) => self.postMessage(m)
let store: EmbeddedStore | undefined

self.onmessage = async (e: MessageEvent<ToStoreThread>) => {
  const m = e.data
  if (m.type === 'start') {
    const o: EmbeddedStoreOptions = {
      ...m.options,
      onBackgroundError: (what, err) =>
        post({ type: 'background-error', what, message: errorText(err) }),
    }
    try {
      store = await serveEmbeddedStore(o)
      post({
        type: 'started',
        url: store.served.url,
        port: store.served.port,
        clientOptions: store.clientOptions,
        joinCommand: store.joinCommand,
      })
    } catch (err) {
      post({ type: 'failed', name: (err as Error).name, message: errorText(err) })
    }
  } else if (m.type === 'stop') {
    try {
      await store?.stop()
      post({ type: 'stopped' })
    } catch (err) {
      post({ type: 'stopped', error: errorText(err) })
    }
  }
}

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e))
