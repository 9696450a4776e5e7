// A measuring aid (issue 17): with WEFT_AGENT_CENSUS=DIR, SIGUSR2 makes the agent collect its
// main thread's heap fully and write a V8-format heap snapshot of it, and its heapStats() with
// every object type's count, to DIR/agent-heap-NODE-PID.{heapsnapshot,json}, each replaced by
// the next signal. bench/heap-census.ts reads the snapshot (what holds the heap, by retainer).
// Off by default: a snapshot of a 17 MB heap is ~100 MB of JSON for a moment.
import { heapStats } from 'bun:jsc'
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../log.ts'

/** Start answering SIGUSR2 when WEFT_AGENT_CENSUS names a directory; returns the stop. */
export function heapCensusOnSignal(node: string, log: Logger): () => void {
  const dir = process.env.WEFT_AGENT_CENSUS
  if (!dir) return () => {}
  const base = join(dir, `agent-heap-${node}-${process.pid}`)
  const onSignal = () => {
    try {
      Bun.gc(true)
      const stats = heapStats()
      const snapshot = Bun.generateHeapSnapshot('v8')
      // written aside and renamed: a reader polling for the file never sees half of it
      writeFileSync(`${base}.heapsnapshot.part`, snapshot)
      writeFileSync(`${base}.json.part`, JSON.stringify({ at: Date.now(), stats }))
      renameSync(`${base}.heapsnapshot.part`, `${base}.heapsnapshot`)
      renameSync(`${base}.json.part`, `${base}.json`)
      log.info({ file: `${base}.heapsnapshot` }, 'wrote the heap census')
    } catch (e) {
      log.error({ err: e }, `heap census to ${dir} failed: is the directory writable?`)
    }
  }
  process.on('SIGUSR2', onSignal)
  return () => void process.off('SIGUSR2', onSignal)
}
