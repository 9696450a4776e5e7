// Byte layouts of the libbpf/kernel structs passed through FFI (x86_64, libbpf 1.1 headers).
// Written once here; test/bpf/structs.test.ts compiles a C program against the real headers
// and checks every size and offset. Only fields we use are listed; the rest stay zero.

/** One field: byte offset and width (4 or 8; 8-byte fields hold pointers, size_t or u64). */
export interface FieldLayout {
  readonly offset: number
  readonly size: 4 | 8 | 16
  /** C member designator when it differs from the field name (e.g. "tcx.ifindex"). */
  readonly cField?: string
}

/** A C struct as seen through FFI: its C name, total size and the fields we touch. */
export interface StructLayout<F extends string = string> {
  /** `struct <cName>` in the C headers (used by the layout test). */
  readonly cName: string
  /** Header that declares it. */
  readonly header: string
  readonly size: number
  readonly fields: Readonly<Record<F, FieldLayout>>
}

function layout<F extends string>(
  cName: string,
  header: string,
  size: number,
  fields: Record<F, FieldLayout>,
): StructLayout<F> {
  return { cName, header, size, fields }
}

const u32 = (offset: number): FieldLayout => ({ offset, size: 4 })
const u64 = (offset: number): FieldLayout => ({ offset, size: 8 })

/** struct bpf_object_open_opts (libbpf.h). */
export const OBJECT_OPEN_OPTS = layout('bpf_object_open_opts', 'bpf/libbpf.h', 80, {
  sz: u64(0),
  object_name: u64(8),
  kernel_log_buf: u64(56),
  kernel_log_size: u64(64),
  kernel_log_level: u32(72),
})

/** struct bpf_tc_hook (libbpf.h). */
export const TC_HOOK = layout('bpf_tc_hook', 'bpf/libbpf.h', 24, {
  sz: u64(0),
  ifindex: u32(8),
  attach_point: u32(12),
  parent: u32(16),
})

/** struct bpf_tc_opts (libbpf.h). prog_id/handle/priority are also outputs of attach. */
export const TC_OPTS = layout('bpf_tc_opts', 'bpf/libbpf.h', 32, {
  sz: u64(0),
  prog_fd: u32(8),
  flags: u32(12),
  prog_id: u32(16),
  handle: u32(20),
  priority: u32(24),
})

/** struct bpf_test_run_opts (bpf.h). data_size_out/retval/duration are outputs. */
export const TEST_RUN_OPTS = layout('bpf_test_run_opts', 'bpf/bpf.h', 80, {
  sz: u64(0),
  data_in: u64(8),
  data_out: u64(16),
  data_size_in: u32(24),
  data_size_out: u32(28),
  ctx_in: u64(32),
  ctx_out: u64(40),
  ctx_size_in: u32(48),
  ctx_size_out: u32(52),
  retval: u32(56),
  repeat: u32(60),
  duration: u32(64),
  flags: u32(68),
  cpu: u32(72),
  batch_size: u32(76),
})

/** struct bpf_link_create_opts (bpf.h). The big union after `flags` stays zero for tcx. */
export const LINK_CREATE_OPTS = layout('bpf_link_create_opts', 'bpf/bpf.h', 64, {
  sz: u64(0),
  flags: u32(8),
})

/** struct bpf_map_batch_opts (bpf.h). */
export const MAP_BATCH_OPTS = layout('bpf_map_batch_opts', 'bpf/bpf.h', 24, {
  sz: u64(0),
  elem_flags: u64(8),
  flags: u64(16),
})

/** struct bpf_map_info (linux/bpf.h), filled by bpf_obj_get_info_by_fd. */
export const MAP_INFO = layout('bpf_map_info', 'linux/bpf.h', 88, {
  type: u32(0),
  id: u32(4),
  key_size: u32(8),
  value_size: u32(12),
  max_entries: u32(16),
  map_flags: u32(20),
  name: { offset: 24, size: 16 },
})

/**
 * struct bpf_link_info, filled by bpf_obj_get_info_by_fd for a link. The `tcx` member is newer
 * than Debian's uapi headers (6.1), so its layout comes from the running kernel's BTF
 * ("vmlinux.h" = `bpftool btf dump file /sys/kernel/btf/vmlinux format c`).
 */
export const LINK_INFO = layout('bpf_link_info', 'vmlinux.h', 64, {
  type: u32(0),
  id: u32(4),
  prog_id: u32(8),
  tcx_ifindex: { offset: 16, size: 4, cField: 'tcx.ifindex' },
  tcx_attach_type: { offset: 20, size: 4, cField: 'tcx.attach_type' },
})

/** Every layout, for the layout test. */
export const ALL_LAYOUTS: readonly StructLayout[] = [
  OBJECT_OPEN_OPTS,
  TC_HOOK,
  TC_OPTS,
  TEST_RUN_OPTS,
  LINK_CREATE_OPTS,
  MAP_BATCH_OPTS,
  MAP_INFO,
  LINK_INFO,
]

/**
 * Encode a struct: zero-filled buffer of `layout.size`, `sz` set to the size when present,
 * then each given field. Pointers are passed as numbers (from bun:ffi `ptr()`).
 */
export function encodeStruct<F extends string>(
  l: StructLayout<F>,
  values: Partial<Record<F, number | bigint>>,
): Uint8Array {
  const buf = new Uint8Array(l.size)
  const view = new DataView(buf.buffer)
  if ('sz' in l.fields) view.setBigUint64(0, BigInt(l.size), true)
  for (const [name, value] of Object.entries(values) as [F, number | bigint | undefined][]) {
    if (value === undefined) continue
    const f = l.fields[name]
    if (f.size === 4) view.setUint32(f.offset, Number(value) >>> 0, true)
    else if (f.size === 8) view.setBigUint64(f.offset, BigInt(value), true)
    else throw new Error(`encodeStruct ${l.cName}.${name}: cannot encode a ${f.size}-byte field`)
  }
  return buf
}

/** Read a 4-byte (unsigned) field from an encoded struct. */
export function readU32<F extends string>(l: StructLayout<F>, buf: Uint8Array, field: F): number {
  const f = l.fields[field]
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(f.offset, true)
}
