// weft doctor (issue 12 item 5) and the truthful status it shares with `node ls`: what this
// agent can say from its counters, the reconciler, the mirror and the kernel, never a guess.
export { Doctor, DROP_SAMPLE_MS } from './doctor.ts'
export type { DoctorSources } from './doctor.ts'
export { agentDoctor } from './sources.ts'
export type { AgentUnits } from './sources.ts'
export { DropHistory, DROP_WORDS } from './drops.ts'
export type { DropDelta } from './drops.ts'
export { judgeNode } from './node-state.ts'
export type { NodeJudgement, NodeState, StoreContact } from './node-state.ts'
export type { DoctorQuery, DoctorReport, Problem, ProblemCheck } from './types.ts'
export { PROBLEM_CHECKS } from './types.ts'
export { agentDownFinding, probeFindings } from './probes.ts'
export type { PeerOnPath, ProbeFinding } from './probes.ts'
