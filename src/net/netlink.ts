// An rtnetlink socket: just enough to plumb an endpoint without starting a process (messages
// in ./netlink-message.ts).
//
// Why (2026-11, measured): with `ip`/`nsenter` per endpoint, 1,000 endpoints on 3 agents spent
// most of the agents' time blocked in spawn (the parent waits until the child has exec'd,
// which takes milliseconds on a busy machine), plus ~3 ms of CPU per short-lived `ip`. The
// same kernel work through one netlink socket costs microseconds of CPU per request.
//
// A netlink socket belongs to the netns it was created in, so a socket for a sandbox is opened
// with the calling thread switched into the sandbox for the socket() call only (withNetns).
// Requests are synchronous: rtnetlink handles a request inside send() and queues the answer
// before send() returns, so recv() does not wait; SO_RCVTIMEO bounds it anyway, so an answer
// that is lost (dropped on a full receive queue) fails the request instead of hanging the agent.
import { concatBytes } from '../util/bytes.ts'
import { WeftError } from '../errors/index.ts'
import { Errno, errnoName, getLibc, withNetns, type Libc } from '../sys/index.ts'
import {
  createVethMessage,
  deleteAddressMessage,
  deleteLinkMessage,
  dumpAddressesMessage,
  getLinkMessage,
  NLMSG_DONE,
  NLMSG_ERROR,
  parseAddress,
  parseDone,
  parseError,
  parseLink,
  replaceAddressMessage,
  setLinkMessage,
  splitMessages,
  type LinkRef,
  type LinkSettings,
  type NetlinkMessage,
  type NlAddress,
  type NlLink,
  type VethRequest,
} from './netlink-message.ts'

export type { LinkRef, LinkSettings, NlAddress, NlLink, VethRequest } from './netlink-message.ts'

const AF_NETLINK = 16
const SOCK_RAW = 3
const SOCK_CLOEXEC = 0x80000
const NETLINK_ROUTE = 0
const SOL_SOCKET = 1
const SO_RCVTIMEO = 20
const SOL_NETLINK = 270
const NETLINK_CAP_ACK = 10
const NETLINK_EXT_ACK = 11

/** How long a request waits for the kernel's answer by default. */
export const NETLINK_TIMEOUT_MS = 5000

/** A failed rtnetlink request: the kernel's errno, and its extended-ack message or the errno's text. */
export class NetlinkError extends WeftError {
  override name = 'NetlinkError'
  constructor(
    readonly op: string,
    readonly errno: number,
    readonly reason: string,
    code = 'netlink_failed',
  ) {
    super(code, `${op}: ${reason} (${errnoName(errno)})`)
  }

  /** The same failure, with what it was part of in front ("create endpoint …: configure eth0: …"). */
  within(context: string): NetlinkError {
    const e = new NetlinkError(`${context}: ${this.op}`, this.errno, this.reason, this.code)
    e.cause = this
    return e
  }
}

export interface RtnlOptions {
  /** Give up on an answer after this long (SO_RCVTIMEO). Default NETLINK_TIMEOUT_MS. */
  timeoutMs?: number
  libc?: Libc
}

/** An rtnetlink socket bound to one network namespace. */
export class RtnlSocket {
  private seq = 1
  private open = true
  private readonly rx = new Uint8Array(64 * 1024)

  private constructor(
    private readonly fd: number,
    private readonly libc: Libc,
    readonly timeoutMs: number,
  ) {}

  /** A socket in this thread's netns, or in the netns at `nsPath`. */
  static open(nsPath?: string, opts: RtnlOptions = {}): RtnlSocket {
    const libc = opts.libc ?? getLibc()
    const timeoutMs = opts.timeoutMs ?? NETLINK_TIMEOUT_MS
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1)
      throw new RangeError(`netlink timeout ${timeoutMs} ms must be a positive integer`)
    const make = () => libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)
    const fd = nsPath === undefined ? make() : withNetns(nsPath, make, libc)
    if (fd < 0) {
      const e = libc.errno()
      throw new NetlinkError(
        'open rtnetlink socket' + (nsPath ? ` in ${nsPath}` : ''),
        e,
        libc.strerror(e),
      )
    }
    const opt = (what: string, rc: number) => {
      if (rc >= 0) return
      const e = libc.errno()
      libc.close(fd)
      throw new NetlinkError(`set ${what} on the rtnetlink socket`, e, libc.strerror(e))
    }
    opt('SO_RCVTIMEO', libc.setsockoptTimeval(fd, SOL_SOCKET, SO_RCVTIMEO, timeoutMs))
    // answers without the echoed request, with the kernel's error message when there is one
    opt('NETLINK_CAP_ACK', libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_CAP_ACK, 1))
    opt('NETLINK_EXT_ACK', libc.setsockoptInt(fd, SOL_NETLINK, NETLINK_EXT_ACK, 1))
    return new RtnlSocket(fd, libc, timeoutMs)
  }

  close(): void {
    if (this.open) this.libc.close(this.fd)
    this.open = false
  }

  /**
   * Send one request and collect the answer's data messages (none for a plain ACK, several
   * for a dump). Answers to earlier requests (late after a timeout) are skipped by seq.
   */
  private exchange(op: string, m: NetlinkMessage): Uint8Array[] {
    const [r] = this.exchangeAll([{ op, m }])
    if (r!.error) throw r!.error
    return r!.data
  }

  /**
   * Send several requests in one send() and collect each one's answer. The kernel handles
   * them one after another, in order, and answers each (a failed one does not stop the
   * rest), so one syscall pair replaces one per request (2026-12, issue 17: ~9 requests per
   * endpoint). Socket-level failures throw; a request's own failure is in its result.
   */
  private exchangeAll(reqs: { op: string; m: NetlinkMessage }[]): BatchAnswer[] {
    const op = reqs.map((r) => r.op).join('; ')
    if (!this.open) throw new NetlinkError(op, Errno.EBADF, 'the rtnetlink socket is closed')
    const first = this.seq
    this.seq += reqs.length
    const parts = reqs.map((r, i) => r.m.bytes(first + i))
    const out = parts.length === 1 ? parts[0]! : concatBytes(parts)
    if (this.libc.send(this.fd, out) !== out.length) {
      const e = this.libc.errno()
      throw new NetlinkError(op, e, `send failed: ${this.libc.strerror(e)}`)
    }
    const answers: BatchAnswer[] = reqs.map(() => ({ data: [] }))
    let pending = reqs.length
    while (pending > 0) {
      const n = this.libc.recv(this.fd, this.rx)
      if (n < 0) {
        const e = this.libc.errno()
        if (e === Errno.EINTR) continue
        if (e === Errno.EAGAIN) {
          throw new NetlinkError(
            op,
            e,
            `no answer from the kernel within ${this.timeoutMs} ms`,
            'netlink_timeout',
          )
        }
        throw new NetlinkError(op, e, `recv failed: ${this.libc.strerror(e)}`)
      }
      for (const a of splitMessages(this.rx, n)) {
        const i = a.seq - first
        const answer = answers[i]
        if (i < 0 || i >= reqs.length || !answer || answer.done) continue
        if (a.type === NLMSG_ERROR) {
          const err = parseError(a.bytes, a.flags)
          if (err.errno !== 0)
            answer.error = new NetlinkError(
              reqs[i]!.op,
              err.errno,
              err.message ?? this.libc.strerror(err.errno),
            )
          answer.done = true
          pending--
        } else if (a.type === NLMSG_DONE) {
          const err = parseDone(a.bytes)
          if (err !== 0) answer.error = new NetlinkError(reqs[i]!.op, err, this.libc.strerror(err))
          answer.done = true
          pending--
        } else {
          answer.data.push(a.bytes.slice()) // a GET's answer; its ACK (we ask for one) or a dump's DONE follows
        }
      }
      if (n === 0 && pending > 0)
        throw new NetlinkError(
          op,
          Errno.EINVAL,
          'empty read from the rtnetlink socket before the answer ended',
        )
    }
    return answers
  }

  /**
   * Send requests built elsewhere in one send() and wait for every ACK; throws the first
   * failure (in request order) after all were answered. Later requests run even when an
   * earlier one failed, so batch only what the caller undoes as a whole on failure.
   */
  batch(reqs: { op: string; m: NetlinkMessage }[]): void {
    if (reqs.length === 0) return
    const failed = this.exchangeAll(reqs).find((a) => a.error)
    if (failed) throw failed.error
  }

  /** As batch(), but each request's own failure (or undefined) is returned, in request order. */
  batchEach(reqs: { op: string; m: NetlinkMessage }[]): (NetlinkError | undefined)[] {
    return reqs.length === 0 ? [] : this.exchangeAll(reqs).map((a) => a.error)
  }

  /** Send a request built elsewhere (e.g. src/egress's routes) and wait for its ACK; throws NetlinkError. */
  request(op: string, m: NetlinkMessage): void {
    this.exchange(op, m)
  }

  /** Send a dump request built elsewhere (e.g. the kernel datapath's FDB) and return its answer's messages. */
  dump(op: string, m: NetlinkMessage): Uint8Array[] {
    return this.exchange(op, m)
  }

  /**
   * Create a veth pair: `o.name` here, `o.peer.name` in the netns open at `o.peer.netnsFd`.
   * EEXIST when `o.name` exists. Returns the new host end as the kernel echoed it (NLM_F_ECHO,
   * Linux >= 6.2), or undefined when the kernel does not echo (then read it with getLink).
   */
  createVeth(o: VethRequest): NlLink | undefined {
    const [echo] = this.exchange(
      `create veth ${o.name} (peer ${o.peer.name})`,
      createVethMessage(o),
    )
    return echo ? parseLink(echo) : undefined
  }

  /** Set attributes of a link (always addrgenmode none, see setLinkMessage). */
  setLink(ref: LinkRef, o: LinkSettings): void {
    this.exchange(`configure ${describe(ref)}`, setLinkMessage(ref, o))
  }

  /** The link, or undefined when there is none. */
  getLink(ref: LinkRef): NlLink | undefined {
    try {
      const [answer] = this.exchange(`read link ${describe(ref)}`, getLinkMessage(ref))
      return answer ? parseLink(answer) : undefined
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === Errno.ENODEV) return undefined
      throw e
    }
  }

  /** Delete a link (a veth: both ends). False when there was none. */
  deleteLink(ref: LinkRef): boolean {
    try {
      this.exchange(`delete link ${describe(ref)}`, deleteLinkMessage(ref))
      return true
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === Errno.ENODEV) return false
      throw e
    }
  }

  /** IPv4 addresses of this netns, of one link when `ifindex` is given. */
  addresses(ifindex?: number): NlAddress[] {
    const all = this.exchange('list addresses', dumpAddressesMessage())
      .map(parseAddress)
      .filter((a): a is NlAddress => a !== undefined)
    return ifindex === undefined ? all : all.filter((a) => a.ifindex === ifindex)
  }

  /** `ip addr replace ip/prefixLen dev <ifindex>` */
  replaceAddress(ifindex: number, ip: string, prefixLen: number): void {
    this.exchange(`add address ${ip}/${prefixLen}`, replaceAddressMessage(ifindex, ip, prefixLen))
  }

  /** `ip addr del ip/prefixLen dev <ifindex>`; false when it was not there. */
  deleteAddress(ifindex: number, ip: string, prefixLen: number): boolean {
    try {
      this.exchange(
        `delete address ${ip}/${prefixLen}`,
        deleteAddressMessage(ifindex, ip, prefixLen),
      )
      return true
    } catch (e) {
      if (e instanceof NetlinkError && e.errno === Errno.EADDRNOTAVAIL) return false
      throw e
    }
  }
}

let processSocket: RtnlSocket | undefined

/**
 * This thread's rtnetlink socket in the netns it was in at first use (the agent's host netns),
 * kept for the process: endpoint plumbing and the endpoint filters share it.
 */
export function hostRtnl(): RtnlSocket {
  return (processSocket ??= RtnlSocket.open())
}

interface BatchAnswer {
  data: Uint8Array[]
  error?: NetlinkError
  done?: boolean
}

const describe = (ref: LinkRef) => (typeof ref === 'number' ? `ifindex ${ref}` : ref)
