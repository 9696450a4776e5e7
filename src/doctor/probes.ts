// What a peer's probes say, as doctor lines (pure): the agent gone while the datapath answers,
// the VTEP unreachable, UDP 4789 filtered on the way, an MTU black hole, a VNI the peer does not
// serve. Every line is a reading of the prober's report (src/probe/peer.ts), never a guess:
// "filtered" takes an ICMP echo that came back while the probes did not, "unreachable" takes
// echoes unanswered as well, and a peer that never answered a probe (a kernel-datapath host,
// which cannot) is judged only once it answers nothing at all.
import type { NetworkRecord, NodeRecord } from '../cluster/index.ts'
import { VXLAN_OVERHEAD } from '../net/index.ts'
import type { PeerReport } from '../probe/index.ts'
import type { ProblemCheck } from './types.ts'

export interface PeerOnPath {
  node: string
  /** Its node record (absent once its lease is gone). */
  record: NodeRecord | undefined
  /** How many of its endpoints are on the path. */
  endpoints: number
  /** What this host's probes say of it (absent: not probed). */
  report: PeerReport | undefined
}

export interface ProbeFinding {
  check: ProblemCheck
  cause: string
}

/** Liveness probes lost in a row before a never-answering peer counts as silent. */
const SILENT_AFTER = 3

const hhmmss = (ms: number) => new Date(ms).toISOString().slice(11, 19)
const secs = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`

/**
 * The agent of a peer without a node record whose datapath answers: its endpoints are kept.
 * Undefined when that is not the case (no record gone, or probes silent).
 */
export function agentDownFinding(p: PeerOnPath, now: number): ProbeFinding | undefined {
  const r = p.report
  if (p.record || !r || r.state !== 'up') return undefined
  const since =
    r.recordGoneAt !== undefined
      ? ` since ${hhmmss(r.recordGoneAt)} (${secs(now - r.recordGoneAt)})`
      : ''
  // still judged up, but falling silent: say so, the endpoints may go soon
  const lost = r.lostInRow > 0 ? `, ${plural(r.lostInRow, 'probe', 'probes')} unanswered since` : ''
  const last = r.lastAnswerMs !== undefined ? ` (last answer ${r.lastAnswerMs} ms ago${lost})` : ''
  return {
    check: 'peer-agent-down',
    cause:
      `agent down: no live record in the store${since}, but its datapath at ${r.vtep} answers probes${last}: ` +
      `its ${plural(p.endpoints, 'endpoint', 'endpoints')} on the path ${p.endpoints === 1 ? 'is' : 'are'} kept and still sent to`,
  }
}

/** Probe findings about one peer: reachability, path MTU, VNIs it does not serve. */
export function probeFindings(
  p: PeerOnPath,
  me: { node: string; vtep: string | undefined },
  nets: NetworkRecord[],
): ProbeFinding[] {
  const r = p.report
  if (!r) return []
  const out: ProbeFinding[] = []
  const silentFor =
    r.lastAnswerMs !== undefined
      ? `for ${secs(r.lastAnswerMs)}`
      : `since probing began (${plural(r.sent, 'probe', 'probes')} sent, none answered)`
  // a never-answering peer is silent only if it is a BPF host, which answers when it can
  const neverAnswers =
    r.state === 'unknown' && p.record !== undefined && p.record.datapath !== 'bpf'
  const silent =
    r.state === 'down' || (r.state === 'unknown' && !neverAnswers && r.lostInRow >= SILENT_AFTER)
  if (silent) {
    if (r.echo === 'answers') {
      out.push({
        check: 'udp-filtered',
        cause:
          `UDP 4789 filtered between ${me.node}${me.vtep ? ` (${me.vtep})` : ''} and ${p.node} (${r.vtep}): ` +
          `ICMP echo to its VTEP answers, VXLAN probes to UDP 4789 have gone unanswered ${silentFor}; ` +
          'overlay traffic between the two hosts is lost on the way: allow UDP 4789 between them',
      })
    } else {
      const echo =
        r.echo === 'silent'
          ? 'neither VXLAN probes nor ICMP echo to it have been answered'
          : 'VXLAN probes to it have gone unanswered (ICMP echo not known yet)'
      out.push({
        check: 'vtep-unreachable',
        cause:
          `VTEP ${r.vtep} unreachable: ${echo} ${silentFor}: its underlay link is down or the host is gone; ` +
          `${r.state === 'down' ? 'its endpoints are not sent to' : 'nothing sent to it arrives'}`,
      })
    }
  }
  if (r.state === 'up' && r.pathMtu !== undefined && r.pathMtu < r.mtuTarget) {
    for (const n of nets) {
      const needs = n.mtu + VXLAN_OVERHEAD
      if (needs <= r.pathMtu) continue
      out.push({
        check: 'mtu-black-hole',
        cause:
          `MTU black hole at ${r.pathMtu + 1} bytes on the way to ${r.vtep}: packets of up to ${r.pathMtu} bytes pass, ` +
          `larger ones are lost, and network ${n.name} (MTU ${n.mtu}) sends up to ${needs}: ` +
          `lower the network's MTU to ${r.pathMtu - VXLAN_OVERHEAD} or raise the underlay's MTU to ${needs}`,
      })
    }
  }
  for (const vni of r.vnisNotServed) {
    const n = nets.find((x) => x.vni === vni)
    if (!n) continue
    out.push({
      check: 'vni-unknown',
      cause:
        `VNI ${vni} (network ${n.name}) unknown at its datapath: it answers probes but says it does not serve VNI ${vni}; ` +
        `traffic of network ${n.name} to its endpoints is dropped there (unknown_vni)`,
    })
  }
  return out
}
