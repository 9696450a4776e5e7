// libc through bun:ffi: the calls host plumbing needs (netns switching, sockets for rtnetlink,
// interface names, memfd for loading libbpf) as a plain object of typed functions, so a fake
// can stand in for it. Ints follow libc: -1 on failure and errno() tells why.

import { CString, dlopen, ptr, read, type Pointer } from 'bun:ffi'

const LIBC_PATH = 'libc.so.6'
const IF_NAMESIZE = 16

/** Typed libc calls. */
export interface Libc {
  close(fd: number): number
  setns(fd: number, nstype: number): number
  /** 0 when the interface does not exist in the calling thread's netns. */
  ifNameToIndex(name: string): number
  /** Name of the interface with this index in the calling thread's netns; undefined if none. */
  ifIndexToName(ifindex: number): string | undefined
  /** errno of the last failed libc call on this thread. */
  errno(): number
  /** Description of an errno (strerror). */
  strerror(errno: number): string

  socket(domain: number, type: number, protocol: number): number
  setsockoptInt(fd: number, level: number, name: number, value: number): number
  /** A `struct timeval` option (SO_RCVTIMEO, SO_SNDTIMEO), given in milliseconds. */
  setsockoptTimeval(fd: number, level: number, name: number, ms: number): number
  send(fd: number, data: Uint8Array): number
  recv(fd: number, buf: Uint8Array): number

  /** memfd_create(2): an anonymous file only this process (and root via /proc) can reach. */
  memfdCreate(name: string, flags: number): number
  /** fcntl(fd, F_ADD_SEALS, seals). */
  addSeals(fd: number, seals: number): number
  /** flock(2): LOCK_EX | LOCK_NB and friends; the kernel drops the lock when the fd closes or the process dies. */
  flock(fd: number, operation: number): number
  /** Format a printf-style `va_list` (x86_64: a pointer) with vasprintf; undefined on failure. */
  formatVaList(fmt: Pointer, args: Pointer): string | undefined
}

const F_ADD_SEALS = 1033

const cstr = (s: string): Buffer => Buffer.from(s + '\0')

function openLibc() {
  return dlopen(LIBC_PATH, {
    close: { args: ['i32'], returns: 'i32' },
    setns: { args: ['i32', 'i32'], returns: 'i32' },
    if_nametoindex: { args: ['ptr'], returns: 'u32' },
    if_indextoname: { args: ['u32', 'ptr'], returns: 'ptr' },
    strerror: { args: ['i32'], returns: 'cstring' },
    socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
    setsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'u32'], returns: 'i32' },
    send: { args: ['i32', 'ptr', 'usize', 'i32'], returns: 'i64' },
    recv: { args: ['i32', 'ptr', 'usize', 'i32'], returns: 'i64' },
    memfd_create: { args: ['ptr', 'u32'], returns: 'i32' },
    // variadic in C; on x86_64 an int third argument is passed like a fixed one
    fcntl: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
    flock: { args: ['i32', 'i32'], returns: 'i32' },
    vasprintf: { args: ['ptr', 'ptr', 'ptr'], returns: 'i32' },
    free: { args: ['ptr'], returns: 'void' },
    __errno_location: { args: [], returns: 'ptr' },
  })
}

function createLibc(): Libc {
  const c = openLibc().symbols
  const strPtrOut = new BigUint64Array(1)
  return {
    close: (fd) => c.close(fd),
    setns: (fd, nstype) => c.setns(fd, nstype),
    ifNameToIndex: (name) => c.if_nametoindex(cstr(name)),
    ifIndexToName(ifindex) {
      const buf = Buffer.alloc(IF_NAMESIZE)
      if (!c.if_indextoname(ifindex, buf)) return undefined
      const nul = buf.indexOf(0)
      return buf.toString('latin1', 0, nul < 0 ? buf.length : nul)
    },
    errno() {
      const loc = c.__errno_location()
      return loc === null ? 0 : read.i32(loc)
    },
    strerror: (errno) => String(c.strerror(Math.abs(errno)) ?? `errno ${errno}`),
    socket: (domain, type, protocol) => c.socket(domain, type, protocol),
    setsockoptInt(fd, level, name, value) {
      const v = new Int32Array([value])
      return c.setsockopt(fd, level, name, ptr(v), 4)
    },
    setsockoptTimeval(fd, level, name, ms) {
      const tv = new BigInt64Array([BigInt(Math.floor(ms / 1000)), BigInt((ms % 1000) * 1000)])
      return c.setsockopt(fd, level, name, ptr(tv), 16)
    },
    send: (fd, data) => Number(c.send(fd, ptr(data), data.byteLength, 0)),
    recv: (fd, buf) => Number(c.recv(fd, ptr(buf), buf.byteLength, 0)),
    memfdCreate: (name, flags) => c.memfd_create(cstr(name), flags),
    addSeals: (fd, seals) => c.fcntl(fd, F_ADD_SEALS, seals),
    flock: (fd, operation) => c.flock(fd, operation),
    formatVaList(fmt, args) {
      const n = c.vasprintf(ptr(strPtrOut), fmt, args)
      if (n < 0) return undefined
      const p = Number(strPtrOut[0]) as Pointer
      const s = new CString(p).toString()
      c.free(p)
      return s
    },
  }
}

let shared: Libc | undefined

/** The process-wide real libc, opened on first use (never at import time). */
export function getLibc(): Libc {
  shared ??= createLibc()
  return shared
}
