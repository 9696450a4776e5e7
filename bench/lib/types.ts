// Shape of bench/results/<date>-<commit>.json (also read by the report and the smoke test).
import type { CliStartupResult } from '../cli-startup.ts'
import type { ControlPlaneResult } from './control-plane.ts'
import type { Counters } from './tools.ts'
import type { Mode, Underlay } from './setups.ts'

/** One figure of one mode: every round's sample and their median. */
export interface Figure {
  samples: number[]
  median: number
  /** The round (1-based) of each sample, so ratios pair rounds (absent in older results). */
  rounds?: number[]
}

export const FIGURE_KEYS = [
  'tcp1Gbps',
  'tcp4Gbps',
  'tcp1Retransmits',
  'tcp4Retransmits',
  'udp64Kpps',
  'udp64LossPercent',
  /** iperf3's own count of 64 B datagrams received per second (udp64Kpps: the namespace's UDP) */
  'udp64AppKpps',
  /** busy share of CPU_CLIENT (sender + the path's softirq) and CPU_SERVER over the UDP run */
  'udp64SenderCpuBusy',
  'udp64ReceiverCpuBusy',
  'latP50us',
  'latP99us',
  'cpuSecPerGB',
  'cpuSecPerGBAtRate',
  'softirqShare',
] as const
export type FigureKey = (typeof FIGURE_KEYS)[number]
export type FigureSet = Partial<Record<FigureKey, Figure>>

/** Figures the smoke test requires for every mode that works. */
export const REMOTE_FIGURES: FigureKey[] = [
  'tcp1Gbps',
  'tcp4Gbps',
  'udp64Kpps',
  'latP50us',
  'latP99us',
  'cpuSecPerGB',
  'cpuSecPerGBAtRate',
]
export const SAME_HOST_FIGURES: FigureKey[] = [
  'tcp1Gbps',
  'udp64Kpps',
  'latP50us',
  'latP99us',
  'cpuSecPerGB',
]

/** Figures of the names resolver (the way out and names phase, ./paths.ts). */
export const NAMES_FIGURE_KEYS = [
  'namesQps',
  'namesFailed',
  'namesIdleP50us',
  'namesIdleP99us',
  'namesLoadedP50us',
  'namesLoadedP99us',
] as const
export type NamesFigureKey = (typeof NAMES_FIGURE_KEYS)[number]
export type NamesFigureSet = Partial<Record<NamesFigureKey, Figure>>

/** Figures the smoke test requires of the way out (nat), the way in (published) and names. */
export const NAT_FIGURES: FigureKey[] = ['tcp1Gbps', 'udp64Kpps', 'latP50us', 'latP99us']
export const PUBLISHED_FIGURES: FigureKey[] = ['tcp1Gbps', 'latP50us', 'latP99us']
export const NAMES_FIGURES: NamesFigureKey[] = [
  'namesQps',
  'namesIdleP50us',
  'namesIdleP99us',
  'namesLoadedP50us',
  'namesLoadedP99us',
]

/** The way out and names (issue 15 item 5, issue 18 item 4); absent with --no-paths. */
export interface PathsPhase {
  /** Container → a server in an "outside" namespace on the underlay, through its host's NAT. */
  nat: Partial<Record<Mode, FigureSet>>
  /** Outside namespace → host 2's address and a published port → a container on host 2. */
  published: Partial<Record<Mode, FigureSet>>
  /** The in-sandbox resolver (routed: a plain dnsmasq there); first underlay phase only. */
  names?: Partial<Record<Mode, NamesFigureSet>>
  /** Why a mode has no figures for a path (e.g. the kernel datapath has no way out). */
  notes: Partial<Record<Mode, string>>
}

export interface Phase {
  underlay: Underlay
  remote: Partial<Record<Mode, FigureSet>>
  /** Present in the first underlay phase only: same-host traffic never crosses the underlay. */
  sameHost?: Partial<Record<Mode, FigureSet>>
  /** Per mode, per test (tcp1, udp64): kernel counter deltas per namespace, one entry per round. */
  counters: Partial<Record<Mode, Record<string, Record<string, Counters>[]>>>
  errors: Partial<Record<Mode, string[]>>
  /** The way out and names (absent with --no-paths and in results from before it existed). */
  paths?: PathsPhase
}

export interface Target {
  id: string
  description: string
  /** For a comparison of two modes: the median of the per-round comparisons (stats.pairRounds). */
  value: number | null
  target: string
  /** null: could not be evaluated (a mode did not run) */
  met: boolean | null
  /** A comparison's rounds: how many there were, how many met the target alone, their range. */
  rounds?: { n: number; met: number; min: number; max: number; paired: boolean }
  note?: string
}

export interface BenchResult {
  meta: {
    date: string
    commit: string
    dirty: boolean
    command: string
    quick: boolean
    kernel: string
    cpu: string
    cpus: number
    weftVersion: string
    /** `dockerd --version` of the docker mode (absent in results from before it existed). */
    dockerVersion?: string
    loadBefore: string
    loadAfter: string
    seconds: number
    config: Record<string, unknown>
    iperfFlags: string
    sockperfFlags: string
    /** Prefixes of every topology this run made (the smoke test checks none is left). */
    prefixes: string[]
    /** Every process this run started, by PID (the smoke test checks none is left). */
    pids: { pid: number; cmd: string }[]
    leaks: string[]
  }
  modes: Partial<Record<Mode, { available: boolean; error?: string }>>
  phases: Phase[]
  controlPlane: Partial<Record<'kernel' | 'bpf', ControlPlaneResult | { error: string }>>
  /** `dist/weft` start-up per command (absent in results from before it was measured). */
  cliStartup?: CliStartupResult | { error: string }
  targets: Target[]
}
