// Public surface of src/bpf: BPF objects, maps and TC attachments on top of libbpf. Load
// objects from bytes, share maps through pins, typed map access, TC attach (tcx or clsact),
// test runs. The FFI itself (libbpf, libc, netns switching) is src/sys; `Sys` and `getSys`
// are re-exported as the seam a fake can replace.

export { BpfError, Errno, errnoName } from './errors.ts'
export type { BpfErrorDetails } from './errors.ts'
export { getSys, withNetns } from '../sys/index.ts'
export type { Sys, MapDescription, MapFdInfo, LinkFdInfo } from '../sys/index.ts'
export { openObject, ObjectSpec, LoadedObject } from './object.ts'
export type { OpenObjectOptions, PinMapsOptions, ProgramRef, ObjectMapRef } from './object.ts'
export {
  TypedMap,
  PerCpuMap,
  MapType,
  UpdateFlag,
  openPinnedMap,
  isPerCpuType,
  sumU64,
  sumCounters,
  mapSyscalls,
} from './map.ts'
export type { MapRef, PinnedMap, CodecOrSize } from './map.ts'
export { u8, u16, u32, u64, be16, be32, bytes, struct, encode, decode } from './codec.ts'
export type { Codec } from './codec.ts'
export {
  attach,
  adoptPinnedLink,
  linkInfo,
  tcxSupported,
  BPF_TCX_INGRESS,
  BPF_TCX_EGRESS,
} from './tc.ts'
export type { AttachOptions, AttachMode, Direction, TcAttachment } from './tc.ts'
export {
  BPFFS_ROOT,
  ensureBpffs,
  ensurePinDir,
  isOnBpffs,
  pinFd,
  unpin,
  pinExists,
  removePinDir,
} from './pin.ts'
export { testRun } from './prog.ts'
export type { TestRunOptions, TestRunResult } from './prog.ts'
