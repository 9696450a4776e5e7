// BPF objects: open ELF bytes into an editable ObjectSpec (map sizes, pin paths), then load
// into a LoadedObject that owns every program and map fd until close(). A spec is consumed by
// load(); a failed load closes it and throws a BpfError carrying libbpf's log (verifier output).

import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { BpfError, Errno } from './errors.ts'
import type { MapRef } from './map.ts'
import { ensurePinDir } from './pin.ts'
import { getSys, type MapDescription, type MapPtr, type ObjPtr, type Sys } from '../sys/index.ts'

/** A loaded program: its name and fd (owned by the LoadedObject). */
export interface ProgramRef {
  readonly name: string
  /** Throws once the owning object is closed. */
  readonly fd: number
}

/** A map of a loaded object; `pinPath` is set when it is shared through a pin. */
export interface ObjectMapRef extends MapRef {
  readonly pinPath: string | undefined
}

export interface OpenObjectOptions {
  /** Object name used in messages and by libbpf (default "bpf_object"). */
  name?: string
  sys?: Sys
}

export interface PinMapsOptions {
  /** Only these maps (default: every non-internal map, i.e. not .rodata/.data/.bss). */
  only?: readonly string[]
}

const LIBBPF_ERRNO_FORMAT = 4001
const LIBBPF_ERRNO_VERIFY = 4007
// A verifier log can be thousands of lines; the error is at the end.
const LOG_HEAD_LINES = 20
const LOG_TAIL_LINES = 120

/** Keep the head and the tail of a long libbpf log. */
function trimLog(log: string): string {
  const lines = log.trimEnd().split('\n')
  if (lines.length <= LOG_HEAD_LINES + LOG_TAIL_LINES) return lines.join('\n')
  const cut = lines.length - LOG_HEAD_LINES - LOG_TAIL_LINES
  return [
    ...lines.slice(0, LOG_HEAD_LINES),
    `... (${cut} lines omitted) ...`,
    ...lines.slice(-LOG_TAIL_LINES),
  ].join('\n')
}

/** Open ELF bytes (e.g. an embedded .o) without loading anything into the kernel. */
export function openObject(bytes: Uint8Array, opts: OpenObjectOptions = {}): ObjectSpec {
  const sys = opts.sys ?? getSys()
  const name = opts.name ?? 'bpf_object'
  sys.drainLog()
  const r = sys.objectOpenMem(bytes, name)
  if ('errno' in r) {
    throw new BpfError({
      op: 'open BPF object',
      subject: name,
      errno: r.errno,
      description: sys.strerror(r.errno),
      hint:
        r.errno === LIBBPF_ERRNO_FORMAT || r.errno === Errno.EINVAL
          ? `the ${bytes.byteLength} bytes are not a valid BPF ELF object (built with clang -target bpf?)`
          : undefined,
      detail: trimLog(sys.drainLog()) || undefined,
    })
  }
  return new ObjectSpec(sys, r.obj, name, bytes)
}

/**
 * An opened, not yet loaded object. Edit it (max entries, pins), then `load()` it once.
 * Call `close()` instead if you decide not to load.
 */
export class ObjectSpec {
  private obj: ObjPtr | undefined
  private readonly pinPaths = new Map<string, string>()

  /** @internal use openObject(). `bytes` is kept referenced while libbpf may read it. */
  constructor(
    private readonly sys: Sys,
    obj: ObjPtr,
    readonly name: string,
    private readonly bytes: Uint8Array,
  ) {
    this.obj = obj
  }

  /** Maps as declared in the object (after any edits). */
  get maps(): MapDescription[] {
    const obj = this.live('list maps')
    return this.sys.objectMaps(obj).map((m) => this.sys.describeMap(m))
  }

  /** Program names (the C function names). */
  get programs(): string[] {
    const obj = this.live('list programs')
    return this.sys.objectPrograms(obj).map((p) => this.sys.programName(p))
  }

  /** Override a map's max_entries before load. */
  setMaxEntries(mapName: string, maxEntries: number): this {
    const m = this.findMap(mapName, 'set max_entries of')
    const rc = this.sys.mapSetMaxEntries(m, maxEntries)
    if (rc < 0) throw this.errno(rc, `set max_entries of map ${mapName}`)
    return this
  }

  /**
   * The initial bytes of a global-data section: `.rodata` (const volatile globals: load-time
   * configuration the verifier can fold into the code), `.data` or `.bss`.
   */
  initialValue(section: string): Uint8Array {
    const m = this.findMap(section, 'read initial value of')
    const v = this.sys.mapInitialValue(m)
    if (!v)
      throw new BpfError({
        op: 'read initial value of map',
        subject: `${section} in ${this.name}`,
        hint: 'not a global-data section',
      })
    return v
  }

  /**
   * Replace the initial bytes of `.rodata`/`.data`/`.bss` before load, e.g. to set
   * `const volatile` configuration. `bytes` must be exactly the section's size (patch a copy
   * of `initialValue()`; field offsets come from the C struct layout).
   */
  setInitialValue(section: string, bytes: Uint8Array): this {
    const m = this.findMap(section, 'set initial value of')
    const size = this.sys.describeMap(m).valueSize
    if (bytes.byteLength !== size) {
      throw new BpfError({
        op: 'set initial value of map',
        subject: `${section} in ${this.name}`,
        hint: `got ${bytes.byteLength} bytes, the section has ${size}`,
      })
    }
    const rc = this.sys.mapSetInitialValue(m, bytes)
    if (rc < 0) throw this.errno(rc, `set initial value of map ${section}`)
    return this
  }

  /**
   * Share maps through pins in `dir` (created on bpffs if missing): at load, a map whose pin
   * exists is adopted (same kernel map as the process that pinned it — the basis of live
   * restore); the others are created and pinned. Shapes must match, or load fails.
   */
  pinMaps(dir: string, opts: PinMapsOptions = {}): this {
    const obj = this.live('pin maps')
    const wanted = opts.only && new Set(opts.only)
    for (const name of wanted ?? []) this.findMap(name, 'pin')
    ensurePinDir(dir)
    for (const m of this.sys.objectMaps(obj)) {
      const d = this.sys.describeMap(m)
      if (wanted ? !wanted.has(d.name) : d.internal) continue
      const path = join(dir, d.name)
      const rc = this.sys.mapSetPinPath(m, path)
      if (rc < 0) throw this.errno(rc, `set pin path of map ${d.name}`)
      this.pinPaths.set(d.name, path)
    }
    return this
  }

  /** Load every program and map into the kernel. Consumes the spec, even on failure. */
  load(): LoadedObject {
    const obj = this.live('load')
    this.obj = undefined
    const adopted = [...this.pinPaths].filter(([, path]) => existsSync(path)).map(([name]) => name)
    this.sys.drainLog()
    const rc = this.sys.objectLoad(obj)
    if (rc < 0) {
      const log = this.sys.drainLog()
      this.sys.objectClose(obj)
      throw new BpfError({
        op: 'load BPF object',
        subject: this.name,
        errno: -rc,
        description: this.sys.strerror(-rc),
        hint: loadHint(-rc, log),
        detail: trimLog(log) || undefined,
      })
    }
    return new LoadedObject(this.sys, obj, this.name, new Map(this.pinPaths), adopted)
  }

  /** Discard without loading. Idempotent. */
  close(): void {
    if (this.obj) this.sys.objectClose(this.obj)
    this.obj = undefined
  }

  private live(what: string): ObjPtr {
    if (!this.obj)
      throw new BpfError({
        op: what,
        subject: this.name,
        hint: 'the spec was already loaded or closed',
      })
    return this.obj
  }

  private findMap(name: string, what: string): MapPtr {
    const obj = this.live(`${what} map ${name}`)
    const m = this.sys.findMap(obj, name)
    if (!m)
      throw missingMap(
        name,
        this.name,
        this.sys.objectMaps(obj).map((x) => this.sys.describeMap(x).name),
      )
    return m
  }

  private errno(rc: number, op: string): BpfError {
    return new BpfError({
      op,
      subject: `in ${this.name}`,
      errno: -rc,
      description: this.sys.strerror(-rc),
    })
  }
}

function loadHint(errno: number, log: string): string {
  if (/couldn't reuse pinned map|failed to get map info|reuse pinned/.test(log)) {
    return (
      'a pinned map differs from the object (type, key/value size, max_entries or flags); ' +
      'keep its shape, or remove the stale pin (its state is lost)'
    )
  }
  if (errno === Errno.EPERM || (errno === Errno.EACCES && !/BEGIN PROG LOAD LOG/.test(log))) {
    return 'run as root (CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON)'
  }
  if (errno === LIBBPF_ERRNO_VERIFY || /BEGIN PROG LOAD LOG/.test(log)) {
    return 'the verifier rejected a program; its log follows'
  }
  return 'see the libbpf log below'
}

function missingMap(name: string, object: string, have: string[]): BpfError {
  return new BpfError({
    op: 'find map',
    subject: `${name} in ${object}`,
    hint: `no such map; the object has: ${have.join(', ') || '(no maps)'}`,
  })
}

/** A loaded object. Owns all its program and map fds; `close()` releases them (pins stay). */
export class LoadedObject {
  private obj: ObjPtr | undefined
  /** Maps taken over from existing pins (shared with whoever pinned them). */
  readonly adoptedMaps: readonly string[]
  /** Maps this load created and pinned. */
  readonly pinnedMaps: readonly string[]

  /** @internal created by ObjectSpec.load(). */
  constructor(
    private readonly sys: Sys,
    obj: ObjPtr,
    readonly name: string,
    private readonly pinPaths: ReadonlyMap<string, string>,
    adopted: readonly string[],
  ) {
    this.obj = obj
    this.adoptedMaps = adopted
    this.pinnedMaps = [...pinPaths.keys()].filter((n) => !adopted.includes(n))
  }

  /** Program names in the object. */
  get programNames(): string[] {
    const obj = this.live()
    return this.sys.objectPrograms(obj).map((p) => this.sys.programName(p))
  }

  /** Map names in the object (including internal ones such as .rodata). */
  get mapNames(): string[] {
    const obj = this.live()
    return this.sys.objectMaps(obj).map((m) => this.sys.describeMap(m).name)
  }

  /** A program by its C function name; throws listing the programs that exist. */
  program(name: string): ProgramRef {
    const obj = this.live()
    const p = this.sys.findProgram(obj, name)
    if (!p) {
      throw new BpfError({
        op: 'find program',
        subject: `${name} in ${this.name}`,
        hint: `no such program; the object has: ${this.programNames.join(', ') || '(no programs)'}`,
      })
    }
    const fd = this.sys.programFd(p)
    const liveFd = () => (this.live(), fd)
    return {
      name,
      get fd() {
        return liveFd()
      },
    }
  }

  /** A map by name; throws listing the maps that exist. */
  map(name: string): ObjectMapRef {
    const obj = this.live()
    const m = this.sys.findMap(obj, name)
    if (!m) throw missingMap(name, this.name, this.mapNames)
    const d = this.sys.describeMap(m)
    const fd = this.sys.mapFd(m)
    // A getter because after close() the fd number may be reused by anything: fail instead.
    const liveFd = () => (this.live(), fd)
    return {
      name: d.name,
      type: d.type,
      keySize: d.keySize,
      valueSize: d.valueSize,
      maxEntries: d.maxEntries,
      pinPath: this.pinPaths.get(d.name),
      get fd() {
        return liveFd()
      },
    }
  }

  /** Close every fd of the object. Attachments made through links stay only if pinned; pins stay. */
  close(): void {
    if (this.obj) this.sys.objectClose(this.obj)
    this.obj = undefined
  }

  private live(): ObjPtr {
    if (!this.obj)
      throw new BpfError({ op: 'use object', subject: this.name, hint: 'the object is closed' })
    return this.obj
  }
}
