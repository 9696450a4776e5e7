// Peer probes: is a peer's datapath alive, whatever its agent does? (See prober.ts.)
export { createProber, Prober } from './prober.ts'
export type { ProberOptions } from './prober.ts'
export { openProbeSocket } from './socket.ts'
export type { ProbeSocket, Received } from './socket.ts'
export type { DatapathState, PeerReport } from './peer.ts'
export { probeTargets } from './targets.ts'
export { seedsFromDatapath } from './seed.ts'
export type { ProbeTarget } from './targets.ts'
