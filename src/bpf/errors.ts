// BpfError: one failure of a libbpf/bpf() operation, with the operation, the object it
// touched, the errno (name and number) and a hint on what to do. Messages read
// "<op> <subject>: <ERRNO> (<description>) — <hint>".

import { WeftError } from '../errors/index.ts'
import { Errno, errnoName } from '../sys/index.ts'

export { Errno, errnoName }

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
