// libc through bun:ffi, the only dlopen of libc: the calls host plumbing needs (netns switching,
// sockets for rtnetlink and the prober's UDP and ICMP probes, interface names, memfd for loading
// libbpf, madvise for dropping the binary's clean pages) as a plain object of typed functions,
// so a fake can stand in for it. Ints follow libc: -1 on failure and errno() tells why.

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
  /**
   * ifIndexToName for many: one socket for all of them (if_indextoname opens and closes one per
   * call, three syscalls a name); indexes without an interface are left out.
   */
  ifIndexToNames(ifindexes: Iterable<number>): Map<number, string>
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
  /** bind(2) to a `struct sockaddr` (its bytes). */
  bind(fd: number, addr: Uint8Array): number
  /** sendto(2) `addr` (a `struct sockaddr`), no flags. */
  sendTo(fd: number, data: Uint8Array, addr: Uint8Array): number
  /** recvfrom(2) into `buf`; the sender's `struct sockaddr` into `from` (up to its length). */
  recvFrom(fd: number, buf: Uint8Array, flags: number, from: Uint8Array): number
  /** recvmsg(2) with one iovec; sets `m.controlLen` to the ancillary bytes the kernel wrote. */
  recvMsg(fd: number, m: RecvMsgBuffers, flags: number): number
  /** clock_gettime(2) in ns; -1n on failure. */
  clockGettimeNs(clockId: number): bigint
  /** madvise(2) on a raw address (from /proc/self/maps), not a JS buffer. */
  madvise(addr: number, length: number, advice: number): number

  /** memfd_create(2): an anonymous file only this process (and root via /proc) can reach. */
  memfdCreate(name: string, flags: number): number
  /** fcntl(fd, F_ADD_SEALS, seals). */
  addSeals(fd: number, seals: number): number
  /** flock(2): LOCK_EX | LOCK_NB and friends; the kernel drops the lock when the fd closes or the process dies. */
  flock(fd: number, operation: number): number
  /** Format a printf-style `va_list` (x86_64: a pointer) with vasprintf; undefined on failure. */
  formatVaList(fmt: Pointer, args: Pointer): string | undefined
}

/** What recvMsg fills: `data` the datagram, `name` its sender's sockaddr, `control` cmsgs. */
export interface RecvMsgBuffers {
  data: Uint8Array
  name: Uint8Array
  control: Uint8Array
  /** Out: bytes of `control` used (msg_controllen after the call). */
  controlLen: number
}

const F_ADD_SEALS = 1033
const AF_INET = 2
const SOCK_DGRAM = 2
const SOCK_CLOEXEC = 0x80000
const SIOCGIFNAME = 0x8910
/** struct ifreq: the name (IF_NAMESIZE), then the union (ifr_ifindex first). */
const IFREQ_SIZE = 40

const cstr = (s: string): Buffer => Buffer.from(s + '\0')

function openLibc() {
  return dlopen(LIBC_PATH, {
    close: { args: ['i32'], returns: 'i32' },
    setns: { args: ['i32', 'i32'], returns: 'i32' },
    if_nametoindex: { args: ['ptr'], returns: 'u32' },
    if_indextoname: { args: ['u32', 'ptr'], returns: 'ptr' },
    // variadic in C; on x86_64 a pointer third argument is passed like a fixed one
    ioctl: { args: ['i32', 'u64', 'ptr'], returns: 'i32' },
    strerror: { args: ['i32'], returns: 'cstring' },
    socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
    setsockopt: { args: ['i32', 'i32', 'i32', 'ptr', 'u32'], returns: 'i32' },
    send: { args: ['i32', 'ptr', 'usize', 'i32'], returns: 'i64' },
    recv: { args: ['i32', 'ptr', 'usize', 'i32'], returns: 'i64' },
    bind: { args: ['i32', 'ptr', 'u32'], returns: 'i32' },
    sendto: { args: ['i32', 'ptr', 'usize', 'i32', 'ptr', 'u32'], returns: 'i64' },
    recvfrom: { args: ['i32', 'ptr', 'usize', 'i32', 'ptr', 'ptr'], returns: 'i64' },
    recvmsg: { args: ['i32', 'ptr', 'i32'], returns: 'i64' },
    clock_gettime: { args: ['i32', 'ptr'], returns: 'i32' },
    madvise: { args: ['ptr', 'usize', 'i32'], returns: 'i32' },
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
  const socklenInOut = new Uint32Array(1)
  const timespecOut = new BigInt64Array(2)
  // struct msghdr (56 bytes on x86_64/arm64) and its one iovec, reused: one JS thread calls
  const msghdr = new BigUint64Array(7)
  const msghdrView = new DataView(msghdr.buffer)
  const iov = new BigUint64Array(2)
  function ifIndexToName(ifindex: number): string | undefined {
    const buf = Buffer.alloc(IF_NAMESIZE)
    if (!c.if_indextoname(ifindex, buf)) return undefined
    const nul = buf.indexOf(0)
    return buf.toString('latin1', 0, nul < 0 ? buf.length : nul)
  }
  return {
    close: (fd) => c.close(fd),
    setns: (fd, nstype) => c.setns(fd, nstype),
    ifNameToIndex: (name) => c.if_nametoindex(cstr(name)),
    ifIndexToName,
    ifIndexToNames(ifindexes) {
      const names = new Map<number, string>()
      const fd = c.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)
      if (fd < 0) {
        for (const i of ifindexes) {
          const name = ifIndexToName(i)
          if (name !== undefined) names.set(i, name)
        }
        return names
      }
      const ifreq = Buffer.alloc(IFREQ_SIZE)
      try {
        for (const i of ifindexes) {
          ifreq.fill(0)
          ifreq.writeInt32LE(i, IF_NAMESIZE)
          if (c.ioctl(fd, SIOCGIFNAME, ifreq) < 0) continue
          const nul = ifreq.indexOf(0)
          names.set(
            i,
            ifreq.toString('latin1', 0, nul < 0 || nul > IF_NAMESIZE ? IF_NAMESIZE : nul),
          )
        }
      } finally {
        c.close(fd)
      }
      return names
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
    bind: (fd, addr) => c.bind(fd, ptr(addr), addr.byteLength),
    sendTo: (fd, data, addr) =>
      Number(c.sendto(fd, ptr(data), data.byteLength, 0, ptr(addr), addr.byteLength)),
    recvFrom(fd, buf, flags, from) {
      socklenInOut[0] = from.byteLength
      return Number(c.recvfrom(fd, ptr(buf), buf.byteLength, flags, ptr(from), ptr(socklenInOut)))
    },
    recvMsg(fd, m, flags) {
      iov[0] = BigInt(ptr(m.data))
      iov[1] = BigInt(m.data.byteLength)
      msghdr[0] = BigInt(ptr(m.name))
      msghdrView.setUint32(8, m.name.byteLength, true)
      msghdr[2] = BigInt(ptr(iov))
      msghdr[3] = 1n
      msghdr[4] = BigInt(ptr(m.control))
      msghdr[5] = BigInt(m.control.byteLength)
      msghdr[6] = 0n
      const n = Number(c.recvmsg(fd, ptr(msghdr), flags))
      m.controlLen = n < 0 ? 0 : Number(msghdr[5])
      return n
    },
    clockGettimeNs(clockId) {
      if (c.clock_gettime(clockId, ptr(timespecOut)) < 0) return -1n
      return timespecOut[0]! * 1_000_000_000n + timespecOut[1]!
    },
    madvise: (addr, length, advice) => c.madvise(addr as Pointer, length, advice),
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
