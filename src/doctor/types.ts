// What `weft doctor` is asked and what it answers: one problem per line, each naming the hop
// it is about and the cause in words.

export interface DoctorQuery {
  /** Limit to one network (name or id). */
  network?: string
  /** A local sandbox (ip-netns name, /proc/PID/ns/net, path) or endpoint (name or id prefix). */
  target?: string
  /** The far end: an endpoint's address or name in the same network(s). */
  to?: string
}

/** What a problem is about, for scripts (the words are in `cause`); also the checks that ran. */
export const PROBLEM_CHECKS = [
  'store', // the store does not answer
  'registration', // this node is not registered
  'reconcile', // an item the reconciler cannot program
  'drift', // something changed behind weft's back, not put back yet
  'endpoint', // an endpoint not attached, its sandbox gone
  'kernel', // a missing, stale or foreign kernel entry (actual vs desired)
  'peer', // a peer node dead (or unknown) in the store
  'probe', // the check of what peer probes say (the kinds below are its problems)
  'peer-agent-down', // a peer's agent is gone (no record) but its datapath answers probes
  'vtep-unreachable', // a peer's VTEP answers neither probes nor ICMP echo
  'udp-filtered', // a peer's VTEP answers ICMP echo but not probes on UDP 4789
  'mtu-black-hole', // the path to a peer carries less than a network's MTU + VXLAN overhead
  'vni-unknown', // a peer's datapath says it does not serve a network's VNI
  'drops', // packets dropped, by reason, since when
] as const

export type ProblemCheck = (typeof PROBLEM_CHECKS)[number]

export interface Problem {
  /** "this host (n1)", "peer node n2", "network blue", "endpoint sb1 (10.0.1.2)". */
  hop: string
  check: ProblemCheck
  cause: string
}

export interface DoctorReport {
  /** True when nothing on the path is wrong. */
  ok: boolean
  node: string
  /** The path that was checked, in words ("sandbox sb1 in network blue to 10.0.1.3 on n2"). */
  path: string
  problems: Problem[]
  /** The checks that ran, in order. */
  checked: ProblemCheck[]
}
