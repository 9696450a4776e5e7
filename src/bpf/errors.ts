// BpfError: one failure of a libbpf/bpf() operation, with the operation, the object it
// touched, the errno (name and number) and a hint on what to do. Messages read
// "<op> <subject>: <ERRNO> (<description>) — <hint>".

import { WeftError } from '../errors/index.ts'

/** Linux errno numbers we name in messages (x86_64 / generic), plus kernel-internal ENOTSUPP. */
const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG', 9: 'EBADF',
  11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 18: 'EXDEV',
  19: 'ENODEV', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC', 30: 'EROFS',
  34: 'ERANGE', 36: 'ENAMETOOLONG', 38: 'ENOSYS', 39: 'ENOTEMPTY', 61: 'ENODATA', 62: 'ETIME', 67: 'ENOLINK',
  71: 'EPROTO', 75: 'EOVERFLOW', 84: 'EILSEQ', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT', 100: 'ENETDOWN', 110: 'ETIMEDOUT', 114: 'EALREADY', 524: 'ENOTSUPP',
  // libbpf's own error codes (LIBBPF_ERRNO__*), returned negated like errnos.
  4000: 'LIBBPF_ERRNO__LIBELF', 4001: 'LIBBPF_ERRNO__FORMAT', 4002: 'LIBBPF_ERRNO__KVERSION',
  4003: 'LIBBPF_ERRNO__ENDIAN', 4004: 'LIBBPF_ERRNO__INTERNAL', 4005: 'LIBBPF_ERRNO__RELOC',
  4006: 'LIBBPF_ERRNO__LOAD', 4007: 'LIBBPF_ERRNO__VERIFY', 4008: 'LIBBPF_ERRNO__PROG2BIG',
  4009: 'LIBBPF_ERRNO__KVER', 4010: 'LIBBPF_ERRNO__PROGTYPE', 4011: 'LIBBPF_ERRNO__WRNGPID',
  4012: 'LIBBPF_ERRNO__INVSEQ', 4013: 'LIBBPF_ERRNO__NLPARSE',
}

/** Errno numbers used by this module's logic. */
export const Errno = {
  EPERM: 1, ENOENT: 2, EBADF: 9, E2BIG: 7, EACCES: 13, EEXIST: 17, ENODEV: 19, EINVAL: 22,
  ENOSPC: 28, ENOSYS: 38, ENOLINK: 67, EOPNOTSUPP: 95, ENOTSUPP: 524,
} as const

/** "ENOENT" for 2 (or -2); "errno 999" when unknown. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno)
  return ERRNO_NAMES[n] ?? `errno ${n}`
}

/** A generic hint for an errno; callers pass a more specific one when they know better. */
export function defaultHint(errno: number): string | undefined {
  switch (Math.abs(errno)) {
    case Errno.EPERM:
    case Errno.EACCES:
      return 'run as root (CAP_BPF + CAP_NET_ADMIN) and check the memlock rlimit / LSM policy'
    case Errno.ENOENT:
      return 'the object does not exist (is bpffs mounted at /sys/fs/bpf? is the pin path right?)'
    case Errno.ENODEV:
      return 'the network interface does not exist in this network namespace'
    case Errno.ENOSYS:
    case Errno.EOPNOTSUPP:
    case Errno.ENOTSUPP:
      return 'the kernel does not support this operation'
    default:
      return undefined
  }
}

export interface BpfErrorDetails {
  /** What was attempted, lowercase: "load object", "attach tcx ingress", "pin map". */
  op: string
  /** What it was attempted on: "count.o", "map wt_counts", "interface eth9 (ifindex 7)". */
  subject?: string
  /** Positive errno (or libbpf error code >= 4000); undefined when the failure is not an errno. */
  errno?: number
  /** Human description of the errno (from libbpf_strerror); filled by the caller when known. */
  description?: string
  /** What to do about it. Defaults to a generic hint for the errno. */
  hint?: string
  /** Extra lines appended after the message (e.g. the verifier log). */
  detail?: string
  cause?: unknown
}

/** A failed BPF operation. `code` is always 'E_BPF'. */
export class BpfError extends WeftError {
  override name = 'BpfError'
  readonly op: string
  readonly subject: string | undefined
  readonly errno: number | undefined
  readonly errnoName: string | undefined
  readonly detail: string | undefined

  constructor(d: BpfErrorDetails) {
    const errno = d.errno === undefined ? undefined : Math.abs(d.errno)
    const name = errno === undefined ? undefined : errnoName(errno)
    const hint = d.hint ?? (errno === undefined ? undefined : defaultHint(errno))
    let msg = d.op + (d.subject ? ` ${d.subject}` : '')
    if (name) msg += `: ${name}` + (d.description ? ` (${d.description})` : '')
    if (hint) msg += (name ? ' — ' : ': ') + hint
    if (d.detail) msg += '\n' + d.detail
    super('E_BPF', msg, { cause: d.cause })
    this.op = d.op
    this.subject = d.subject
    this.errno = errno
    this.errnoName = name
    this.detail = d.detail
  }
}

/** Build a BpfError for a negative libbpf return (or positive errno), describing it via libbpf_strerror. */
export function errnoError(
  sys: { strerror(errno: number): string },
  rcOrErrno: number,
  d: Omit<BpfErrorDetails, 'errno' | 'description'>,
): BpfError {
  const errno = Math.abs(rcOrErrno)
  return new BpfError({ ...d, errno, description: sys.strerror(errno) })
}
