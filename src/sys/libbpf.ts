// libbpf through bun:ffi: the only dlopen of libbpf. Exposes `Libbpf`, a plain object of typed
// functions in libbpf's own conventions (ints: >= 0 ok, < 0 = -errno), so everything above can
// take it as a parameter and a fake can stand in for it. Struct encoding and pointer
// conversion for libbpf happen only here (layouts in ./structs.ts).

import { JSCallback, dlopen, ptr, toArrayBuffer, type Pointer } from 'bun:ffi'
import { getLibc, type Libc } from './libc.ts'
import { libbpfFile, type LibbpfSource } from './libbpf-file.ts'
import {
  LINK_CREATE_OPTS,
  LINK_INFO,
  MAP_BATCH_OPTS,
  MAP_INFO,
  OBJECT_OPEN_OPTS,
  TC_HOOK,
  TC_OPTS,
  TEST_RUN_OPTS,
  encodeStruct,
  readU32,
} from './structs.ts'

/** Opaque libbpf pointers (struct bpf_object *, struct bpf_map *, struct bpf_program *). */
export type ObjPtr = Pointer & { readonly __brand?: 'bpf_object' }
export type MapPtr = Pointer & { readonly __brand?: 'bpf_map' }
export type ProgPtr = Pointer & { readonly __brand?: 'bpf_program' }

/** What libbpf knows about a map in an (opened or loaded) object. */
export interface MapDescription {
  name: string
  type: number
  keySize: number
  valueSize: number
  maxEntries: number
  /** .rodata/.data/.bss/.kconfig: per-object, never pinned or shared. */
  internal: boolean
}

/** Kernel view of a map fd (bpf_obj_get_info_by_fd). */
export interface MapFdInfo {
  id: number
  name: string
  type: number
  keySize: number
  valueSize: number
  maxEntries: number
  flags: number
}

export interface TestRunIn {
  data: Uint8Array
  /** Size of the data_out buffer; 0 = no output wanted. */
  dataOutSize: number
  repeat: number
}
export interface TestRunOut {
  rc: number
  retval: number
  durationNs: number
  dataOut: Uint8Array
}

/** Kernel view of a link fd (bpf_obj_get_info_by_fd); ifindex/attachType are meaningful for tcx. */
export interface LinkFdInfo {
  type: number
  id: number
  progId: number
  ifindex: number
  attachType: number
}

/** TC hook point for the legacy (clsact) path: BPF_TC_INGRESS = 1, BPF_TC_EGRESS = 2. */
export type TcAttachPoint = 1 | 2

/**
 * Typed libbpf calls. Int results follow libbpf 1.x: >= 0 success, < 0 is -errno.
 * Functions returning a pointer return `{ errno }` instead of NULL.
 */
export interface Libbpf {
  objectOpenMem(bytes: Uint8Array, name: string): { obj: ObjPtr } | { errno: number }
  objectLoad(obj: ObjPtr): number
  objectClose(obj: ObjPtr): void
  objectMaps(obj: ObjPtr): MapPtr[]
  objectPrograms(obj: ObjPtr): ProgPtr[]
  findMap(obj: ObjPtr, name: string): MapPtr | null
  findProgram(obj: ObjPtr, name: string): ProgPtr | null
  programName(p: ProgPtr): string
  programFd(p: ProgPtr): number
  describeMap(m: MapPtr): MapDescription
  mapFd(m: MapPtr): number
  mapSetMaxEntries(m: MapPtr, n: number): number
  mapSetPinPath(m: MapPtr, path: string): number
  mapReuseFd(m: MapPtr, fd: number): number
  /** Copy of the initial contents of a data map (.rodata/.data), or null when it has none. */
  mapInitialValue(m: MapPtr): Uint8Array | null
  /** Replace the initial contents (size must equal the value size); before load only. */
  mapSetInitialValue(m: MapPtr, data: Uint8Array): number
  numPossibleCpus(): number

  mapLookup(fd: number, key: Uint8Array, value: Uint8Array): number
  mapUpdate(fd: number, key: Uint8Array, value: Uint8Array, flags: number): number
  mapDelete(fd: number, key: Uint8Array): number
  mapGetNextKey(fd: number, key: Uint8Array | null, next: Uint8Array): number
  /** BPF_MAP_LOOKUP_BATCH; `count` is in/out (slots in, entries read out). */
  mapLookupBatch(
    fd: number,
    inBatch: Uint8Array | null,
    outBatch: Uint8Array,
    keys: Uint8Array,
    values: Uint8Array,
    count: Uint32Array,
  ): number
  mapInfo(fd: number): { info: MapFdInfo } | { errno: number }

  objPin(fd: number, path: string): number
  /** Returns the new fd, or -errno. */
  objGet(path: string): number
  /** Returns the link fd, or -errno. `target` is an ifindex for tcx. */
  linkCreate(progFd: number, target: number, attachType: number): number
  linkDetach(linkFd: number): number
  /** Atomically swap the program of a link (bpf_link_update). */
  linkUpdate(linkFd: number, progFd: number): number
  linkInfo(fd: number): { info: LinkFdInfo } | { errno: number }
  tcHookCreate(ifindex: number, point: TcAttachPoint): number
  tcHookDestroy(ifindex: number, point: TcAttachPoint): number
  /** `flags`: BPF_TC_F_REPLACE = 1 replaces an existing filter at handle/priority. */
  tcAttach(
    ifindex: number,
    point: TcAttachPoint,
    progFd: number,
    handle: number,
    priority: number,
    flags: number,
  ): { rc: number; handle: number; priority: number; progId: number }
  tcDetach(ifindex: number, point: TcAttachPoint, handle: number, priority: number): number
  progTestRun(progFd: number, input: TestRunIn): TestRunOut

  /** Description of an errno or libbpf error code (libbpf_strerror). */
  strerror(errno: number): string
  /** libbpf's warnings/info printed since the last call (e.g. the verifier log), then cleared. */
  drainLog(): string

  /** libbpf_major_version / libbpf_minor_version of the loaded library. */
  version(): { major: number; minor: number }
}

const cstr = (s: string): Buffer => Buffer.from(s + '\0')

// Buffers referenced only by a pointer inside an encoded struct must outlive the call: the
// print callback can run JS (and so GC) in the middle of a libbpf call.
let keptAlive: unknown
function keepAlive(x: unknown): void {
  keptAlive = x
  keptAlive = undefined
}

function openLibbpf(path: string) {
  return dlopen(path, {
    bpf_object__open_mem: { args: ['ptr', 'usize', 'ptr'], returns: 'ptr' },
    bpf_object__load: { args: ['ptr'], returns: 'i32' },
    bpf_object__close: { args: ['ptr'], returns: 'void' },
    bpf_object__next_map: { args: ['ptr', 'ptr'], returns: 'ptr' },
    bpf_object__next_program: { args: ['ptr', 'ptr'], returns: 'ptr' },
    bpf_object__find_map_by_name: { args: ['ptr', 'ptr'], returns: 'ptr' },
    bpf_object__find_program_by_name: { args: ['ptr', 'ptr'], returns: 'ptr' },
    bpf_program__name: { args: ['ptr'], returns: 'cstring' },
    bpf_program__fd: { args: ['ptr'], returns: 'i32' },
    bpf_map__name: { args: ['ptr'], returns: 'cstring' },
    bpf_map__fd: { args: ['ptr'], returns: 'i32' },
    bpf_map__type: { args: ['ptr'], returns: 'i32' },
    bpf_map__key_size: { args: ['ptr'], returns: 'u32' },
    bpf_map__value_size: { args: ['ptr'], returns: 'u32' },
    bpf_map__max_entries: { args: ['ptr'], returns: 'u32' },
    bpf_map__is_internal: { args: ['ptr'], returns: 'bool' },
    bpf_map__set_max_entries: { args: ['ptr', 'u32'], returns: 'i32' },
    bpf_map__set_pin_path: { args: ['ptr', 'ptr'], returns: 'i32' },
    bpf_map__reuse_fd: { args: ['ptr', 'i32'], returns: 'i32' },
    bpf_map__initial_value: { args: ['ptr', 'ptr'], returns: 'ptr' },
    bpf_map__set_initial_value: { args: ['ptr', 'ptr', 'usize'], returns: 'i32' },
    libbpf_num_possible_cpus: { args: [], returns: 'i32' },
    bpf_map_lookup_elem: { args: ['i32', 'ptr', 'ptr'], returns: 'i32' },
    bpf_map_update_elem: { args: ['i32', 'ptr', 'ptr', 'u64'], returns: 'i32' },
    bpf_map_delete_elem: { args: ['i32', 'ptr'], returns: 'i32' },
    bpf_map_get_next_key: { args: ['i32', 'ptr', 'ptr'], returns: 'i32' },
    bpf_map_lookup_batch: {
      args: ['i32', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr'],
      returns: 'i32',
    },
    bpf_obj_get_info_by_fd: { args: ['i32', 'ptr', 'ptr'], returns: 'i32' },
    bpf_obj_pin: { args: ['i32', 'ptr'], returns: 'i32' },
    bpf_obj_get: { args: ['ptr'], returns: 'i32' },
    bpf_link_create: { args: ['i32', 'i32', 'u32', 'ptr'], returns: 'i32' },
    bpf_link_detach: { args: ['i32'], returns: 'i32' },
    bpf_link_update: { args: ['i32', 'i32', 'ptr'], returns: 'i32' },
    bpf_tc_hook_create: { args: ['ptr'], returns: 'i32' },
    bpf_tc_hook_destroy: { args: ['ptr'], returns: 'i32' },
    bpf_tc_attach: { args: ['ptr', 'ptr'], returns: 'i32' },
    bpf_tc_detach: { args: ['ptr', 'ptr'], returns: 'i32' },
    bpf_prog_test_run_opts: { args: ['i32', 'ptr'], returns: 'i32' },
    libbpf_set_print: { args: ['ptr'], returns: 'ptr' },
    libbpf_strerror: { args: ['i32', 'ptr', 'usize'], returns: 'i32' },
    libbpf_major_version: { args: [], returns: 'u32' },
    libbpf_minor_version: { args: [], returns: 'u32' },
  })
}

// libbpf_print_level: LIBBPF_WARN = 0, LIBBPF_INFO = 1, LIBBPF_DEBUG = 2.
const LIBBPF_INFO = 1
// Keep at most this much captured libbpf output between drains (a verifier log can be MBs).
const LOG_CAP_CHARS = 1 << 20

function createLibbpf(path: string, libc: Libc): Libbpf {
  const bpf = openLibbpf(path).symbols
  const errno = () => libc.errno()

  // libbpf prints through a printf-style callback taking a va_list. On x86_64 a va_list
  // argument is a pointer, so we hand it to vasprintf to format it.
  let captured = ''
  const printer = new JSCallback(
    (level: number, fmt: Pointer | null, args: Pointer | null): number => {
      if (level > LIBBPF_INFO || fmt === null || args === null) return 0
      const s = libc.formatVaList(fmt, args)
      if (s === undefined) return 0
      captured += s
      if (captured.length > LOG_CAP_CHARS) captured = captured.slice(-LOG_CAP_CHARS)
      return s.length
    },
    { args: ['i32', 'ptr', 'ptr'], returns: 'i32' },
  )
  bpf.libbpf_set_print(printer.ptr)

  const tcHook = (ifindex: number, point: number) =>
    encodeStruct(TC_HOOK, { ifindex, attach_point: point })

  const sys: Libbpf = {
    objectOpenMem(bytes, name) {
      const nameBuf = cstr(name)
      const opts = encodeStruct(OBJECT_OPEN_OPTS, { object_name: ptr(nameBuf) })
      const obj = bpf.bpf_object__open_mem(ptr(bytes), bytes.byteLength, opts)
      const err = obj === null ? errno() : 0
      keepAlive(nameBuf)
      if (obj === null) return { errno: err }
      return { obj: obj as ObjPtr }
    },
    objectLoad: (obj) => bpf.bpf_object__load(obj),
    objectClose: (obj) => bpf.bpf_object__close(obj),
    objectMaps(obj) {
      const out: MapPtr[] = []
      for (
        let m = bpf.bpf_object__next_map(obj, null);
        m !== null;
        m = bpf.bpf_object__next_map(obj, m)
      ) {
        out.push(m as MapPtr)
      }
      return out
    },
    objectPrograms(obj) {
      const out: ProgPtr[] = []
      for (
        let p = bpf.bpf_object__next_program(obj, null);
        p !== null;
        p = bpf.bpf_object__next_program(obj, p)
      ) {
        out.push(p as ProgPtr)
      }
      return out
    },
    findMap: (obj, name) => bpf.bpf_object__find_map_by_name(obj, cstr(name)) as MapPtr | null,
    findProgram: (obj, name) =>
      bpf.bpf_object__find_program_by_name(obj, cstr(name)) as ProgPtr | null,
    programName: (p) => String(bpf.bpf_program__name(p) ?? ''),
    programFd: (p) => bpf.bpf_program__fd(p),
    describeMap: (m) => ({
      name: String(bpf.bpf_map__name(m) ?? ''),
      type: bpf.bpf_map__type(m),
      keySize: bpf.bpf_map__key_size(m),
      valueSize: bpf.bpf_map__value_size(m),
      maxEntries: bpf.bpf_map__max_entries(m),
      internal: bpf.bpf_map__is_internal(m),
    }),
    mapFd: (m) => bpf.bpf_map__fd(m),
    mapSetMaxEntries: (m, n) => bpf.bpf_map__set_max_entries(m, n),
    mapSetPinPath: (m, path) => bpf.bpf_map__set_pin_path(m, cstr(path)),
    mapReuseFd: (m, fd) => bpf.bpf_map__reuse_fd(m, fd),
    mapInitialValue(m) {
      const size = new BigUint64Array(1)
      const p = bpf.bpf_map__initial_value(m, ptr(size))
      if (p === null) return null
      return new Uint8Array(toArrayBuffer(p, 0, Number(size[0]))).slice()
    },
    mapSetInitialValue: (m, data) => bpf.bpf_map__set_initial_value(m, data, data.byteLength),
    numPossibleCpus: () => bpf.libbpf_num_possible_cpus(),

    mapLookup: (fd, key, value) => bpf.bpf_map_lookup_elem(fd, key, value),
    mapUpdate: (fd, key, value, flags) => bpf.bpf_map_update_elem(fd, key, value, flags),
    mapDelete: (fd, key) => bpf.bpf_map_delete_elem(fd, key),
    mapGetNextKey: (fd, key, next) => bpf.bpf_map_get_next_key(fd, key, next),
    mapLookupBatch(fd, inBatch, outBatch, keys, values, count) {
      const opts = encodeStruct(MAP_BATCH_OPTS, {})
      return bpf.bpf_map_lookup_batch(fd, inBatch, outBatch, keys, values, count, opts)
    },
    mapInfo(fd) {
      const info = new Uint8Array(MAP_INFO.size)
      const len = new Uint32Array([MAP_INFO.size])
      const rc = bpf.bpf_obj_get_info_by_fd(fd, info, len)
      if (rc < 0) return { errno: -rc }
      const f = MAP_INFO.fields
      const nameBytes = info.subarray(f.name.offset, f.name.offset + f.name.size)
      const nul = nameBytes.indexOf(0)
      return {
        info: {
          id: readU32(MAP_INFO, info, 'id'),
          name: new TextDecoder().decode(nul < 0 ? nameBytes : nameBytes.subarray(0, nul)),
          type: readU32(MAP_INFO, info, 'type'),
          keySize: readU32(MAP_INFO, info, 'key_size'),
          valueSize: readU32(MAP_INFO, info, 'value_size'),
          maxEntries: readU32(MAP_INFO, info, 'max_entries'),
          flags: readU32(MAP_INFO, info, 'map_flags'),
        },
      }
    },

    objPin: (fd, path) => bpf.bpf_obj_pin(fd, cstr(path)),
    objGet: (path) => bpf.bpf_obj_get(cstr(path)),
    linkCreate(progFd, target, attachType) {
      const opts = encodeStruct(LINK_CREATE_OPTS, {})
      return bpf.bpf_link_create(progFd, target, attachType, opts)
    },
    linkDetach: (fd) => bpf.bpf_link_detach(fd),
    linkUpdate: (fd, progFd) => bpf.bpf_link_update(fd, progFd, null),
    linkInfo(fd) {
      const info = new Uint8Array(LINK_INFO.size)
      const len = new Uint32Array([LINK_INFO.size])
      const rc = bpf.bpf_obj_get_info_by_fd(fd, info, len)
      if (rc < 0) return { errno: -rc }
      return {
        info: {
          type: readU32(LINK_INFO, info, 'type'),
          id: readU32(LINK_INFO, info, 'id'),
          progId: readU32(LINK_INFO, info, 'prog_id'),
          ifindex: readU32(LINK_INFO, info, 'tcx_ifindex'),
          attachType: readU32(LINK_INFO, info, 'tcx_attach_type'),
        },
      }
    },
    tcHookCreate: (ifindex, point) => bpf.bpf_tc_hook_create(tcHook(ifindex, point)),
    tcHookDestroy: (ifindex, point) => bpf.bpf_tc_hook_destroy(tcHook(ifindex, point)),
    tcAttach(ifindex, point, progFd, handle, priority, flags) {
      const opts = encodeStruct(TC_OPTS, { prog_fd: progFd, handle, priority, flags })
      const rc = bpf.bpf_tc_attach(tcHook(ifindex, point), opts)
      return {
        rc,
        handle: readU32(TC_OPTS, opts, 'handle'),
        priority: readU32(TC_OPTS, opts, 'priority'),
        progId: readU32(TC_OPTS, opts, 'prog_id'),
      }
    },
    tcDetach(ifindex, point, handle, priority) {
      // bpf_tc_detach wants prog_fd/prog_id/flags zero and handle+priority set.
      const opts = encodeStruct(TC_OPTS, { handle, priority })
      return bpf.bpf_tc_detach(tcHook(ifindex, point), opts)
    },
    progTestRun(progFd, input) {
      const dataOut = new Uint8Array(input.dataOutSize)
      const opts = encodeStruct(TEST_RUN_OPTS, {
        data_in: input.data.byteLength ? ptr(input.data) : 0,
        data_size_in: input.data.byteLength,
        data_out: input.dataOutSize ? ptr(dataOut) : 0,
        data_size_out: input.dataOutSize,
        repeat: input.repeat,
      })
      const rc = bpf.bpf_prog_test_run_opts(progFd, opts)
      keepAlive(input.data)
      const outLen = readU32(TEST_RUN_OPTS, opts, 'data_size_out')
      return {
        rc,
        retval: readU32(TEST_RUN_OPTS, opts, 'retval'),
        durationNs: readU32(TEST_RUN_OPTS, opts, 'duration'),
        dataOut: dataOut.subarray(0, Math.min(outLen, dataOut.byteLength)),
      }
    },

    strerror(e) {
      const buf = new Uint8Array(256)
      bpf.libbpf_strerror(Math.abs(e), buf, buf.byteLength)
      const nul = buf.indexOf(0)
      return new TextDecoder().decode(buf.subarray(0, nul < 0 ? buf.length : nul))
    },
    drainLog() {
      const s = captured
      captured = ''
      return s
    },

    version: () => ({ major: bpf.libbpf_major_version(), minor: bpf.libbpf_minor_version() }),
  }
  return sys
}

let shared: { libbpf: Libbpf; source: LibbpfSource } | undefined

function load(): { libbpf: Libbpf; source: LibbpfSource } {
  if (shared) return shared
  const libc = getLibc()
  const file = libbpfFile(libc)
  try {
    shared = { libbpf: createLibbpf(file.path, libc), source: file.source }
  } finally {
    file.release() // dlopen has mapped it; the fd is no longer needed
  }
  return shared
}

/**
 * The process-wide libbpf: the embedded copy unless WEFT_LIBBPF=system (see ./libbpf-file.ts),
 * dlopened on first use, never at import time.
 */
export function getLibbpf(): Libbpf {
  return load().libbpf
}

/** Version and origin of the libbpf this process runs (for `weft version`). */
export function libbpfInfo(): { version: string; source: LibbpfSource } {
  const { libbpf, source } = load()
  const v = libbpf.version()
  return { version: `${v.major}.${v.minor}`, source }
}
