// A measuring aid for the embedded store's thread: Bun's --cpu-prof covers only the main
// thread (Bun 1.4.5, checked), so with WEFT_STORE_PROFILE=DIR the store's Worker runs JSC's own
// sampling profiler on its VM and writes DIR/store-profile-PID.json every few seconds and at stop:
// samples by innermost function (self), by every function on the stack (inclusive), and the
// most common stacks. The sampler sees only time with JS on the stack (a synchronous native call
// made from JS, such as a libSQL statement, counts as its caller's); TLS and HTTP parsing done by
// Bun outside JS, and the collector, show only in the thread's CPU in /proc (thread "Worker").
import * as jsc from 'bun:jsc'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

// Bun's types omit it (1.4.5): the samples taken since the last call, which it then drops.
const samplingProfilerStackTraces = (
  jsc as unknown as {
    samplingProfilerStackTraces(): { interval: number; traces: { frames: Frame[] }[] }
  }
).samplingProfilerStackTraces

interface Frame {
  name: string
  sourceURL?: string
  line: number
}

/** Stacks kept per sample: enough to tell a route's JSON from the engine's. */
const STACK_DEPTH = 8
const DRAIN_MS = 1000
const WRITE_EVERY = 5
/** µs between samples: coarser than JSC's 1 ms default, each sample interrupts the thread. */
const SAMPLE_US = 2000

export interface StoreProfile {
  /** Drain the sampler and write the file (also done every few seconds). */
  flush(): void
  stop(): void
}

export function startStoreProfile(dir: string): StoreProfile {
  mkdirSync(dir, { recursive: true })
  const file = join(dir, `store-profile-${process.pid}.json`)
  const self = new Map<string, number>()
  const inclusive = new Map<string, number>()
  const stacks = new Map<string, number>()
  let samples = 0
  let interval = 0
  let drains = 0
  jsc.startSamplingProfiler(undefined, SAMPLE_US)
  const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1)
  const drain = () => {
    const t = samplingProfilerStackTraces()
    interval = t.interval
    for (const { frames } of t.traces) {
      if (frames.length === 0) continue
      samples++
      const names = frames.map((f) => label(f, false))
      bump(self, label(frames[0]!, true))
      for (const n of new Set(names)) bump(inclusive, n)
      bump(stacks, names.slice(0, STACK_DEPTH).join(' < '))
    }
  }
  const write = () => {
    const top = (m: Map<string, number>, n: number) =>
      [...m].sort((a, b) => b[1] - a[1]).slice(0, n)
    writeFileSync(
      file,
      JSON.stringify({
        pid: process.pid,
        intervalSeconds: interval,
        samples,
        self: top(self, 200),
        inclusive: top(inclusive, 400),
        stacks: top(stacks, 300),
      }),
    )
  }
  const flush = () => {
    drain()
    write()
  }
  const timer = setInterval(() => {
    drain()
    if (++drains % WRITE_EVERY === 0) write()
  }, DRAIN_MS)
  timer.unref?.()
  return {
    flush,
    stop() {
      clearInterval(timer)
      flush()
    },
  }
}

/**
 * function@file, with the sampled line for self time (a frame's line is where it was, not where
 * the function starts); the file's last path segment only (a bundle's chunk, or a source file).
 */
function label(f: Frame, withLine: boolean): string {
  const file = f.sourceURL ? f.sourceURL.slice(f.sourceURL.lastIndexOf('/') + 1) : ''
  const line = withLine && f.line >= 0 && f.line < 4294967295 ? `:${f.line}` : ''
  return `${f.name || '(anonymous)'}${file ? `@${file}${line}` : ''}`
}
