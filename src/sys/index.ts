// The one syscall seam: libc (./libc.ts) and libbpf (./libbpf.ts) through bun:ffi, the only
// files that call dlopen. src/net sits on `Libc`; src/bpf on `Sys` (both together). Each is a
// plain object of typed functions, so a fake can replace it in tests.
// Kept private on purpose: the raw symbol tables, ./structs.ts (FFI struct layouts) and
// ./libbpf-file.ts (where libbpf is loaded from).
import { getLibbpf, type Libbpf } from './libbpf.ts'
import { getLibc, type Libc } from './libc.ts'

export { Errno, errnoName } from './errno.ts'
export { getLibc } from './libc.ts'
export type { Libc, RecvMsgBuffers } from './libc.ts'
export { getLibbpf, libbpfInfo } from './libbpf.ts'
export type {
  Libbpf,
  MapDescription,
  MapFdInfo,
  LinkFdInfo,
  TestRunIn,
  TestRunOut,
  TcAttachPoint,
  ObjPtr,
  MapPtr,
  ProgPtr,
} from './libbpf.ts'
export type { LibbpfSource } from './libbpf-file.ts'
export { withNetns, NetnsError } from './netns.ts'

/** Everything src/bpf calls: libbpf, plus libc for fds, netns and interface names. */
export type Sys = Libbpf & Libc

let shared: Sys | undefined

/** The process-wide real `Sys`; `strerror` is libbpf's (it also knows libbpf's own codes). */
export function getSys(): Sys {
  shared ??= { ...getLibc(), ...getLibbpf() }
  return shared
}
