// Linux errno numbers by name, and names for numbers in messages (x86_64 / generic), plus
// the kernel-internal ENOTSUPP and libbpf's own codes (LIBBPF_ERRNO__*, returned negated).

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 5: 'EIO', 6: 'ENXIO', 7: 'E2BIG', 9: 'EBADF',
  11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 14: 'EFAULT', 16: 'EBUSY', 17: 'EEXIST', 18: 'EXDEV',
  19: 'ENODEV', 20: 'ENOTDIR', 21: 'EISDIR', 22: 'EINVAL', 24: 'EMFILE', 28: 'ENOSPC', 30: 'EROFS',
  34: 'ERANGE', 36: 'ENAMETOOLONG', 38: 'ENOSYS', 39: 'ENOTEMPTY', 61: 'ENODATA', 62: 'ETIME', 67: 'ENOLINK',
  71: 'EPROTO', 75: 'EOVERFLOW', 84: 'EILSEQ', 93: 'EPROTONOSUPPORT', 95: 'EOPNOTSUPP',
  97: 'EAFNOSUPPORT', 99: 'EADDRNOTAVAIL', 100: 'ENETDOWN', 105: 'ENOBUFS', 110: 'ETIMEDOUT', 114: 'EALREADY',
  524: 'ENOTSUPP',
  4000: 'LIBBPF_ERRNO__LIBELF', 4001: 'LIBBPF_ERRNO__FORMAT', 4002: 'LIBBPF_ERRNO__KVERSION',
  4003: 'LIBBPF_ERRNO__ENDIAN', 4004: 'LIBBPF_ERRNO__INTERNAL', 4005: 'LIBBPF_ERRNO__RELOC',
  4006: 'LIBBPF_ERRNO__LOAD', 4007: 'LIBBPF_ERRNO__VERIFY', 4008: 'LIBBPF_ERRNO__PROG2BIG',
  4009: 'LIBBPF_ERRNO__KVER', 4010: 'LIBBPF_ERRNO__PROGTYPE', 4011: 'LIBBPF_ERRNO__WRNGPID',
  4012: 'LIBBPF_ERRNO__INVSEQ', 4013: 'LIBBPF_ERRNO__NLPARSE',
}

/** Errno numbers the code decides on. */
export const Errno = {
  EPERM: 1, ENOENT: 2, EINTR: 4, EBADF: 9, E2BIG: 7, EAGAIN: 11, EACCES: 13, EEXIST: 17, ENODEV: 19,
  EINVAL: 22, ENOSPC: 28, ENOSYS: 38, ENOLINK: 67, EOPNOTSUPP: 95, EADDRNOTAVAIL: 99, ENOTSUPP: 524,
} as const

/** "ENOENT" for 2 (or -2); "errno 999" when unknown. */
export function errnoName(errno: number): string {
  const n = Math.abs(errno)
  return ERRNO_NAMES[n] ?? `errno ${n}`
}
