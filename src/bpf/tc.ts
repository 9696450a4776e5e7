// Attach TC programs to an interface: tcx links (bpf_link_create, Linux >= 6.6) or, below that,
// a clsact qdisc + direct-action filter (bpf_tc_attach). One handle type for both.
// Lifetimes: a tcx link lives while its fd or a pin holds it, so a pinned link keeps the
// program attached after this process exits (live restore). A tc filter is not fd-bound.
// Interfaces are resolved in the calling thread's netns (see withNetns).

import { release } from 'node:os'
import { NotSupportedError } from '../errors/index.ts'
import { BpfError, Errno, errnoError } from './errors.ts'
import type { ProgramRef } from './object.ts'
import { pinFd, unpin as unpinPath } from './pin.ts'
import { getSys, type Sys, type TcAttachPoint } from '../sys/index.ts'
import type { RtnlSocket } from '../net/netlink.ts'
import { bpfFilterMessage, hookQdiscMessage } from '../net/tc-message.ts'

export type Direction = 'ingress' | 'egress'

/** `auto`: tcx when the kernel has it (>= 6.6), else tc (clsact). */
export type AttachMode = 'auto' | 'tcx' | 'tc'

/** enum bpf_attach_type values for tcx, from the kernel's BTF (Debian 12's uapi headers predate them). */
export const BPF_TCX_INGRESS = 46
export const BPF_TCX_EGRESS = 47
/** enum bpf_link_type BPF_LINK_TYPE_TCX. */
const BPF_LINK_TYPE_TCX = 11
const BPF_TC_F_REPLACE = 1
const TCX_MIN_KERNEL = '6.6'

export interface AttachOptions {
  /** The program (from LoadedObject.program) or a raw program fd. */
  program: ProgramRef | number
  /** Interface name or ifindex, in the calling thread's network namespace. */
  iface: string | number
  direction: Direction
  /** Default `auto`. */
  mode?: AttachMode
  /** tc mode only: filter priority and handle (default 1 and 1). */
  priority?: number
  handle?: number
  /** tc mode only: replace the program of a filter already at that handle/priority instead of failing. */
  replace?: boolean
  /**
   * tc mode only: send the qdisc and filter over this rtnetlink socket (of the interface's
   * netns), in one send, instead of libbpf's two new sockets (2026-12, issue 17: per endpoint).
   */
  rtnl?: RtnlSocket
  /**
   * tc mode over `rtnl`, ingress only: the qdisc to create when the device has none. `ingress`
   * makes one tc block instead of clsact's two, which the kernel walks machine-wide per new
   * block (see hookQdiscMessage). An existing clsact is used as it is. Default `clsact`.
   */
  qdisc?: 'clsact' | 'ingress'
  sys?: Sys
}

/** One attachment of a program to an interface hook. */
export interface TcAttachment {
  readonly kind: 'tcx' | 'tc'
  readonly ifindex: number
  readonly direction: Direction
  /** Where this handle pinned (or adopted) the link, if anywhere. */
  readonly pinPath: string | undefined
  /** Pin the link so the attachment outlives this process (tcx only). */
  pin(path: string): void
  /** Remove this handle's pin (the attachment then lives only as long as the fd). Missing -> false. */
  unpin(): boolean
  /** Atomically replace the attached program (no window without a program). */
  replaceProgram(program: ProgramRef | number): void
  /** Release this process's handle. tcx: stays attached only if pinned. tc: detaches. */
  close(): void
  /** Remove the attachment now, pinned or not (the pin file, if any, stays until unpin). */
  detach(): void
}

/** True when the kernel (default: the running one, as `uname -r` prints it) has tcx links (Linux >= 6.6). */
export function tcxSupported(kernelRelease: string = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease)
  const [major, minor] = m ? [Number(m[1]), Number(m[2])] : [0, 0]
  return major > 6 || (major === 6 && minor >= 6)
}

const progFd = (p: ProgramRef | number): number => (typeof p === 'number' ? p : p.fd)

function describeIface(iface: string | number): string {
  return typeof iface === 'number' ? `ifindex ${iface}` : `interface ${iface}`
}

function resolveIfindex(iface: string | number, op: string, sys: Sys): number {
  if (typeof iface === 'number') return iface
  const ifindex = sys.ifNameToIndex(iface)
  if (ifindex === 0) {
    throw new BpfError({
      op,
      subject: `interface ${iface}`,
      errno: Errno.ENODEV,
      description: sys.strerror(Errno.ENODEV),
      hint: `interface ${iface} does not exist in this network namespace`,
    })
  }
  return ifindex
}

/**
 * Attach a TC program to an interface's ingress or egress hook.
 * @example const a = attach({ program: obj.program('tc_ingress'), iface: 'eth0', direction: 'ingress' })
 */
export function attach(opts: AttachOptions): TcAttachment {
  const sys = opts.sys ?? getSys()
  const mode = opts.mode ?? 'auto'
  const kind = mode === 'auto' ? (tcxSupported() ? 'tcx' : 'tc') : mode
  const op = `attach ${kind} ${opts.direction}`
  const ifindex = resolveIfindex(opts.iface, op, sys)
  const subject =
    typeof opts.iface === 'string'
      ? `interface ${opts.iface} (ifindex ${ifindex})`
      : describeIface(ifindex)
  return kind === 'tcx'
    ? attachTcx(sys, progFd(opts.program), ifindex, opts.direction, op, subject)
    : attachTc(sys, progFd(opts.program), ifindex, opts, op, subject)
}

function attachTcx(
  sys: Sys,
  prog: number,
  ifindex: number,
  direction: Direction,
  op: string,
  subject: string,
) {
  const type = direction === 'ingress' ? BPF_TCX_INGRESS : BPF_TCX_EGRESS
  const fd = sys.linkCreate(prog, ifindex, type)
  if (fd < 0) {
    // Probe after failure: an old kernel rejects the attach type with EINVAL.
    if (!tcxSupported()) throw new NotSupportedError('tcx', TCX_MIN_KERNEL)
    const hint =
      -fd === Errno.ENODEV ? `${subject} does not exist in this network namespace` : undefined
    throw errnoError(sys, fd, { op, subject, hint })
  }
  return new TcxLink(sys, fd, ifindex, direction, undefined)
}

/**
 * Take over a tcx link pinned by an earlier process (bpf_obj_get). The returned handle shares
 * the attachment: close() leaves it attached (it is pinned), detach() removes it.
 */
export function adoptPinnedLink(path: string, sys: Sys = getSys()): TcAttachment {
  const fd = sys.objGet(path)
  if (fd < 0) {
    const hint =
      -fd === Errno.ENOENT ? 'no pinned link there (is bpffs mounted at /sys/fs/bpf?)' : undefined
    throw errnoError(sys, fd, { op: 'adopt pinned link', subject: path, hint })
  }
  const r = sys.linkInfo(fd)
  if ('errno' in r || r.info.type !== BPF_LINK_TYPE_TCX) {
    sys.close(fd)
    throw new BpfError({
      op: 'adopt pinned link',
      subject: path,
      hint:
        'errno' in r
          ? `cannot read link info (${sys.strerror(r.errno)})`
          : `not a tcx link (link type ${r.info.type})`,
    })
  }
  const direction: Direction = r.info.attachType === BPF_TCX_EGRESS ? 'egress' : 'ingress'
  return new TcxLink(sys, fd, r.info.ifindex, direction, path)
}

/** Read the kernel's view of a pinned or open tcx link: program id, ifindex, direction. */
export function linkInfo(att: TcAttachment): { progId: number; linkId: number; ifindex: number } {
  if (!(att instanceof TcxLink))
    throw new BpfError({ op: 'read link info', hint: 'only tcx attachments are links' })
  return att.info()
}

class TcxLink implements TcAttachment {
  readonly kind = 'tcx'
  private fd: number | undefined

  constructor(
    private readonly sys: Sys,
    fd: number,
    readonly ifindex: number,
    readonly direction: Direction,
    public pinPath: string | undefined,
  ) {
    this.fd = fd
  }

  pin(path: string): void {
    pinFd(this.live('pin'), path, `tcx ${this.direction} link`, this.sys)
    this.pinPath = path
  }

  unpin(): boolean {
    if (!this.pinPath) return false
    const removed = unpinPath(this.pinPath)
    this.pinPath = undefined
    return removed
  }

  replaceProgram(program: ProgramRef | number): void {
    const rc = this.sys.linkUpdate(this.live('replace program'), progFd(program))
    if (rc < 0)
      throw errnoError(this.sys, rc, { op: 'replace program of tcx link', subject: this.where() })
  }

  info(): { progId: number; linkId: number; ifindex: number } {
    const r = this.sys.linkInfo(this.live('read link info'))
    if ('errno' in r)
      throw errnoError(this.sys, r.errno, { op: 'read link info', subject: this.where() })
    return { progId: r.info.progId, linkId: r.info.id, ifindex: r.info.ifindex }
  }

  close(): void {
    if (this.fd !== undefined) this.sys.close(this.fd)
    this.fd = undefined
  }

  detach(): void {
    const fd = this.live('detach')
    const rc = this.sys.linkDetach(fd)
    // ENOLINK/ENOENT-ish answers mean it is already gone (e.g. the interface was deleted).
    if (rc < 0 && -rc !== Errno.ENOENT && -rc !== Errno.ENOLINK) {
      throw errnoError(this.sys, rc, { op: 'detach tcx link', subject: this.where() })
    }
    this.close()
  }

  private where(): string {
    return (
      `${this.direction} on ifindex ${this.ifindex}` +
      (this.pinPath ? ` (pinned at ${this.pinPath})` : '')
    )
  }

  private live(op: string): number {
    if (this.fd === undefined)
      throw new BpfError({ op, subject: `tcx link ${this.where()}`, hint: 'the handle is closed' })
    return this.fd
  }
}

function attachTc(
  sys: Sys,
  prog: number,
  ifindex: number,
  opts: AttachOptions,
  op: string,
  subject: string,
): TcAttachment {
  const point: TcAttachPoint = opts.direction === 'ingress' ? 1 : 2
  if (opts.qdisc === 'ingress' && (opts.direction !== 'ingress' || !opts.rtnl))
    throw new BpfError({
      op,
      subject,
      hint: 'an ingress qdisc holds ingress filters only, and is made over an rtnetlink socket (pass rtnl)',
    })
  if (opts.rtnl) return attachTcOver(opts.rtnl, sys, prog, ifindex, opts, point, op, subject)
  // EEXIST: a clsact qdisc is already there (ours or someone else's); both are fine.
  const hookRc = sys.tcHookCreate(ifindex, point)
  if (hookRc < 0 && -hookRc !== Errno.EEXIST) {
    const hint =
      -hookRc === Errno.ENODEV ? `${subject} does not exist in this network namespace` : undefined
    throw errnoError(sys, hookRc, { op: `${op} (create clsact qdisc)`, subject, hint })
  }
  const handle = opts.handle ?? 1
  const priority = opts.priority ?? 1
  const r = sys.tcAttach(
    ifindex,
    point,
    prog,
    handle,
    priority,
    opts.replace ? BPF_TC_F_REPLACE : 0,
  )
  if (r.rc < 0) {
    const hint =
      -r.rc === Errno.EEXIST
        ? `a filter already exists at handle ${handle} priority ${priority}`
        : undefined
    throw errnoError(sys, r.rc, { op, subject, hint })
  }
  return new TcFilter(sys, ifindex, opts.direction, point, r.handle, r.priority)
}

/** attachTc over the caller's rtnetlink socket: the qdisc and the filter in one send. */
function attachTcOver(
  rtnl: RtnlSocket,
  sys: Sys,
  prog: number,
  ifindex: number,
  opts: AttachOptions,
  point: TcAttachPoint,
  op: string,
  subject: string,
): TcAttachment {
  const handle = opts.handle ?? 1
  const priority = opts.priority ?? 1
  const name = typeof opts.program === 'number' ? `fd${prog}` : opts.program.name
  const qdisc = opts.qdisc ?? 'clsact'
  const [qdiscErr, filterErr] = rtnl.batchEach([
    {
      op: `${op} (create ${qdisc} qdisc)`,
      m: hookQdiscMessage(ifindex, qdisc),
    },
    {
      op,
      m: bpfFilterMessage({
        ifindex,
        direction: opts.direction,
        progFd: prog,
        name,
        handle,
        priority,
        replace: opts.replace ?? false,
      }),
    },
  ])
  // EEXIST: a clsact or ingress qdisc is already there (ours or someone else's); both take
  // ingress filters. An ingress qdisc has no egress hook (the kernel would put an "egress"
  // filter on its one ingress block): weft attaches egress filters only where it made clsact.
  const failed = qdiscErr && qdiscErr.errno !== Errno.EEXIST ? qdiscErr : filterErr
  if (failed) {
    const hint =
      failed.errno === Errno.ENODEV
        ? `${subject} does not exist in this network namespace`
        : failed === filterErr && failed.errno === Errno.EEXIST
          ? `a filter already exists at handle ${handle} priority ${priority}`
          : undefined
    throw errnoError(sys, -failed.errno, { op: failed.op, subject, hint })
  }
  return new TcFilter(sys, ifindex, opts.direction, point, handle, priority)
}

class TcFilter implements TcAttachment {
  readonly kind = 'tc'
  readonly pinPath = undefined
  private attached = true

  constructor(
    private readonly sys: Sys,
    readonly ifindex: number,
    readonly direction: Direction,
    private readonly point: TcAttachPoint,
    private readonly handle: number,
    private readonly priority: number,
  ) {}

  pin(): void {
    throw new BpfError({
      op: 'pin tc filter',
      subject: `${this.direction} on ifindex ${this.ifindex}`,
      hint: `legacy tc filters are not links and cannot be pinned; tcx links can (Linux >= ${TCX_MIN_KERNEL})`,
    })
  }

  unpin(): boolean {
    return false
  }

  replaceProgram(program: ProgramRef | number): void {
    const r = this.sys.tcAttach(
      this.ifindex,
      this.point,
      progFd(program),
      this.handle,
      this.priority,
      BPF_TC_F_REPLACE,
    )
    if (r.rc < 0)
      throw errnoError(this.sys, r.rc, {
        op: 'replace program of tc filter',
        subject: `ifindex ${this.ifindex}`,
      })
  }

  close(): void {
    if (this.attached) this.detach()
  }

  /** Removes our filter; the clsact qdisc stays (other filters may use it). */
  detach(): void {
    if (!this.attached) return
    const rc = this.sys.tcDetach(this.ifindex, this.point, this.handle, this.priority)
    this.attached = false
    if (rc < 0 && -rc !== Errno.ENOENT && -rc !== Errno.ENODEV) {
      throw errnoError(this.sys, rc, {
        op: `detach tc ${this.direction} filter`,
        subject: `ifindex ${this.ifindex}`,
      })
    }
  }
}
