// Map handles. `MapRef` names a kernel map fd plus its shape; `TypedMap` and `PerCpuMap`
// wrap one with key/value codecs checked against the kernel's sizes at construction.
// "Not found" is a value (undefined / false), never an exception.

import { decode, encode, type Codec, bytes as rawBytes } from './codec.ts'
import { BpfError, Errno, errnoError } from './errors.ts'
import { getSys, type Sys } from '../sys/index.ts'

/** enum bpf_map_type values we name (linux/bpf.h). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PROG_ARRAY: 3,
  PERF_EVENT_ARRAY: 4,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LRU_PERCPU_HASH: 10,
  LPM_TRIE: 11,
  DEVMAP: 14,
  PERCPU_CGROUP_STORAGE: 21,
} as const

const PERCPU_TYPES: ReadonlySet<number> = new Set([
  MapType.PERCPU_HASH,
  MapType.PERCPU_ARRAY,
  MapType.LRU_PERCPU_HASH,
  MapType.PERCPU_CGROUP_STORAGE,
])

/** True for map types whose values are stored once per possible CPU. */
export function isPerCpuType(type: number): boolean {
  return PERCPU_TYPES.has(type)
}

/** Update flags (BPF_ANY / BPF_NOEXIST / BPF_EXIST). */
export const UpdateFlag = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const
export type UpdateFlag = (typeof UpdateFlag)[keyof typeof UpdateFlag]

/** A kernel map: its fd and shape. The fd is owned elsewhere (a loaded object or a PinnedMap). */
export interface MapRef {
  readonly name: string
  /** Throws once the owner is closed, so a stale fd is never reused by accident. */
  readonly fd: number
  readonly type: number
  readonly keySize: number
  readonly valueSize: number
  readonly maxEntries: number
}

/** A map opened from a pin; owns its fd. */
export interface PinnedMap extends MapRef {
  readonly path: string
  close(): void
}

/** Open a pinned map by path (bpf_obj_get) and read its shape from the kernel. */
export function openPinnedMap(path: string, sys: Sys = getSys()): PinnedMap {
  const fd = sys.objGet(path)
  if (fd < 0) {
    throw errnoError(sys, fd, {
      op: 'open pinned map',
      subject: path,
      hint:
        -fd === Errno.ENOENT
          ? 'nothing is pinned there (is bpffs mounted at /sys/fs/bpf? did the loader pin it?)'
          : undefined,
    })
  }
  const r = sys.mapInfo(fd)
  if ('errno' in r) {
    sys.close(fd)
    throw errnoError(sys, r.errno, {
      op: 'open pinned map',
      subject: path,
      hint: 'the pin is not a map?',
    })
  }
  let open = true
  const { info } = r
  return {
    path,
    name: info.name,
    type: info.type,
    keySize: info.keySize,
    valueSize: info.valueSize,
    maxEntries: info.maxEntries,
    get fd() {
      if (!open)
        throw new BpfError({
          op: 'use map',
          subject: `${info.name} (${path})`,
          hint: 'the map handle is closed',
        })
      return fd
    },
    close() {
      if (open) sys.close(fd)
      open = false
    },
  }
}

/** Key/value layout for a typed map: a codec, or a byte count for raw `Uint8Array`s. */
export type CodecOrSize<T> = Codec<T> | number

function asCodec<T>(c: CodecOrSize<T>): Codec<T> {
  return (typeof c === 'number' ? rawBytes(c) : c) as Codec<T>
}

function checkSizes(
  ref: MapRef,
  key: Codec<unknown>,
  value: Codec<unknown>,
  perCpu: boolean,
): void {
  if (isPerCpuType(ref.type) !== perCpu) {
    throw new BpfError({
      op: 'open typed map',
      subject: ref.name,
      hint: perCpu
        ? `map type ${ref.type} is not per-CPU; use TypedMap`
        : `map type ${ref.type} is per-CPU; use PerCpuMap`,
    })
  }
  const problems: string[] = []
  if (key.size !== ref.keySize)
    problems.push(`key codec is ${key.size} bytes, kernel map key is ${ref.keySize}`)
  if (value.size !== ref.valueSize)
    problems.push(`value codec is ${value.size} bytes, kernel map value is ${ref.valueSize}`)
  if (problems.length) {
    throw new BpfError({
      op: 'open typed map',
      subject: ref.name,
      hint: `${problems.join('; ')} — the TypeScript layout does not mirror the C struct (check the .h and its codec)`,
    })
  }
}

// --- shared raw operations (one place for errno handling) ---

/**
 * Map syscalls this process made, by kind (for /metrics: what following a change costs in
 * syscalls; a batch counts once, whatever its entries).
 */
export const mapSyscalls = { lookup: 0, update: 0, delete: 0, lookupBatch: 0, getNextKey: 0 }

// Kernels without BPF_MAP_LOOKUP_BATCH (or without it for this map type) answer one of these.
const BATCH_UNSUPPORTED: ReadonlySet<number> = new Set([
  Errno.ENOTSUPP,
  Errno.EOPNOTSUPP,
  Errno.EINVAL,
])

class RawMap {
  private batchSupported: boolean | undefined

  constructor(
    readonly ref: MapRef,
    readonly sys: Sys,
    /** Bytes of one value as the syscall sees it (per-CPU: stride × possible CPUs). */
    readonly valueBytes: number,
  ) {}

  lookup(key: Uint8Array): Uint8Array | undefined {
    const value = new Uint8Array(this.valueBytes)
    mapSyscalls.lookup++
    const rc = this.sys.mapLookup(this.ref.fd, key, value)
    if (rc === -Errno.ENOENT) return undefined
    if (rc < 0) throw errnoError(this.sys, rc, { op: 'lookup in map', subject: this.ref.name })
    return value
  }

  /** false when the flag's precondition failed (NOEXIST: exists, EXIST: missing). */
  update(key: Uint8Array, value: Uint8Array, flag: UpdateFlag): boolean {
    mapSyscalls.update++
    const rc = this.sys.mapUpdate(this.ref.fd, key, value, flag)
    if (rc === -Errno.EEXIST && flag === UpdateFlag.NOEXIST) return false
    if (rc === -Errno.ENOENT && flag === UpdateFlag.EXIST) return false
    if (rc < 0) {
      const hint =
        rc === -Errno.E2BIG ? `the map is full (max_entries ${this.ref.maxEntries})` : undefined
      throw errnoError(this.sys, rc, { op: 'update map', subject: this.ref.name, hint })
    }
    return true
  }

  delete(key: Uint8Array): boolean {
    mapSyscalls.delete++
    const rc = this.sys.mapDelete(this.ref.fd, key)
    if (rc === -Errno.ENOENT) return false
    if (rc < 0) {
      const hint =
        rc === -Errno.EINVAL &&
        (this.ref.type === MapType.ARRAY || this.ref.type === MapType.PERCPU_ARRAY)
          ? 'array map entries cannot be deleted; write a zero value instead'
          : undefined
      throw errnoError(this.sys, rc, { op: 'delete from map', subject: this.ref.name, hint })
    }
    return true
  }

  /** Every entry: batched where the kernel supports it for this map, else get_next_key + lookup. */
  entries(): [Uint8Array, Uint8Array][] {
    if (this.batchSupported !== false) {
      const out = this.batchEntries()
      if (out) return out
    }
    return this.iterateEntries()
  }

  private batchEntries(): [Uint8Array, Uint8Array][] | undefined {
    const { keySize } = this.ref
    const out: [Uint8Array, Uint8Array][] = []
    // The batch token is a u32 bucket (hash) or a key-sized index (array).
    const token = new Uint8Array(Math.max(8, keySize))
    let inBatch: Uint8Array | null = null
    let chunk = Math.min(Math.max(this.ref.maxEntries, 1), 256)
    const count = new Uint32Array(1)
    for (;;) {
      const keys = new Uint8Array(chunk * keySize)
      const values = new Uint8Array(chunk * this.valueBytes)
      count[0] = chunk
      mapSyscalls.lookupBatch++
      const rc = this.sys.mapLookupBatch(this.ref.fd, inBatch, token, keys, values, count)
      const done = rc === -Errno.ENOENT
      if (rc < 0 && !done) {
        if (rc === -Errno.ENOSPC && count[0] === 0) {
          chunk *= 2 // one hash bucket holds more entries than fit; retry the same batch larger
          continue
        }
        if (BATCH_UNSUPPORTED.has(-rc) && inBatch === null) {
          this.batchSupported = false
          return undefined
        }
        throw errnoError(this.sys, rc, { op: 'batch lookup in map', subject: this.ref.name })
      }
      this.batchSupported = true
      const n = count[0] ?? 0
      for (let i = 0; i < n; i++) {
        out.push([
          keys.slice(i * keySize, (i + 1) * keySize),
          values.slice(i * this.valueBytes, (i + 1) * this.valueBytes),
        ])
      }
      if (done) return out
      inBatch = token.slice()
    }
  }

  private iterateEntries(): [Uint8Array, Uint8Array][] {
    const out: [Uint8Array, Uint8Array][] = []
    let prev: Uint8Array | null = null
    for (;;) {
      const next = new Uint8Array(this.ref.keySize)
      mapSyscalls.getNextKey++
      const rc = this.sys.mapGetNextKey(this.ref.fd, prev, next)
      if (rc === -Errno.ENOENT) return out
      if (rc < 0) throw errnoError(this.sys, rc, { op: 'iterate map', subject: this.ref.name })
      const value = this.lookup(next)
      if (value) out.push([next, value]) // absent: deleted while we iterated
      prev = next
    }
  }
}

/**
 * A map with typed keys and values.
 * @example const nets = new TypedMap(obj.map('vx_nets'), u32, netCodec) // bpf/maps.h, src/datapath/bpf/abi.ts
 */
export class TypedMap<K, V> {
  readonly key: Codec<K>
  readonly value: Codec<V>
  private readonly raw: RawMap

  /** Throws BpfError when the codec sizes differ from the kernel's key/value sizes. */
  constructor(
    readonly ref: MapRef,
    key: CodecOrSize<K>,
    value: CodecOrSize<V>,
    sys: Sys = getSys(),
  ) {
    this.key = asCodec(key)
    this.value = asCodec(value)
    checkSizes(ref, this.key, this.value, false)
    this.raw = new RawMap(ref, sys, ref.valueSize)
  }

  /** The value at `key`, or undefined when absent. */
  lookup(key: K): V | undefined {
    const v = this.raw.lookup(encode(this.key, key))
    return v && decode(this.value, v)
  }

  /**
   * Write `key` -> `value`. With NOEXIST/EXIST, returns false (and writes nothing) when the key
   * already exists / does not exist. Other failures (map full, …) throw.
   */
  update(key: K, value: V, flag: UpdateFlag = UpdateFlag.ANY): boolean {
    return this.raw.update(encode(this.key, key), encode(this.value, value), flag)
  }

  /** Remove `key`; false when it was not there. */
  delete(key: K): boolean {
    return this.raw.delete(encode(this.key, key))
  }

  /** All entries (one batch syscall per chunk where supported). */
  entries(): [K, V][] {
    return this.raw.entries().map(([k, v]) => [decode(this.key, k), decode(this.value, v)])
  }

  keys(): K[] {
    return this.entries().map(([k]) => k)
  }
}

/**
 * A per-CPU map: each key holds one value per possible CPU. Values cross the syscall as
 * `possible CPUs × round_up(value_size, 8)` bytes; this class hides that layout.
 */
export class PerCpuMap<K, V> {
  readonly key: Codec<K>
  readonly value: Codec<V>
  /** Number of possible CPUs (the length of every value array). */
  readonly cpus: number
  private readonly stride: number
  private readonly raw: RawMap

  /** Throws BpfError when the codec sizes differ from the kernel's key/value sizes. */
  constructor(
    readonly ref: MapRef,
    key: CodecOrSize<K>,
    value: CodecOrSize<V>,
    sys: Sys = getSys(),
  ) {
    this.key = asCodec(key)
    this.value = asCodec(value)
    checkSizes(ref, this.key, this.value, true)
    const cpus = sys.numPossibleCpus()
    if (cpus <= 0)
      throw errnoError(sys, cpus, { op: 'count possible CPUs', subject: 'for map ' + ref.name })
    this.cpus = cpus
    this.stride = Math.ceil(ref.valueSize / 8) * 8
    this.raw = new RawMap(ref, sys, this.stride * cpus)
  }

  /** One value per possible CPU, or undefined when the key is absent. */
  lookup(key: K): V[] | undefined {
    const v = this.raw.lookup(encode(this.key, key))
    return v && this.split(v)
  }

  /** Write one value per CPU (`values.length` must equal `cpus`), or the same value on every CPU. */
  update(key: K, values: V[] | { all: V }, flag: UpdateFlag = UpdateFlag.ANY): boolean {
    const list = 'all' in values ? Array.from({ length: this.cpus }, () => values.all) : values
    if (list.length !== this.cpus) {
      throw new RangeError(
        `per-CPU update of ${this.ref.name}: got ${list.length} values for ${this.cpus} CPUs`,
      )
    }
    const buf = new Uint8Array(this.stride * this.cpus)
    const view = new DataView(buf.buffer)
    list.forEach((v, cpu) => this.value.write(view, cpu * this.stride, v))
    return this.raw.update(encode(this.key, key), buf, flag)
  }

  /** Remove `key`; false when it was not there. */
  delete(key: K): boolean {
    return this.raw.delete(encode(this.key, key))
  }

  /** All entries, each with its per-CPU values. */
  entries(): [K, V[]][] {
    return this.raw.entries().map(([k, v]) => [decode(this.key, k), this.split(v)])
  }

  private split(buf: Uint8Array): V[] {
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    return Array.from({ length: this.cpus }, (_, cpu) => this.value.read(view, cpu * this.stride))
  }
}

/** Sum per-CPU u64 counters. */
export function sumU64(values: readonly bigint[]): bigint {
  return values.reduce((a, b) => a + b, 0n)
}

/**
 * Sum per-CPU counter structs field by field (every field a bigint).
 * @example sumCounters(counts.lookup(0) ?? []) // { packets: 12n, bytes: 1008n }
 */
export function sumCounters<V extends Record<string, bigint>>(values: readonly V[]): V {
  const out: Record<string, bigint> = {}
  for (const v of values) for (const [k, n] of Object.entries(v)) out[k] = (out[k] ?? 0n) + n
  return out as V
}
