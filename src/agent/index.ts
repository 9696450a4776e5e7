// The weft agent: configuration, the composition root and the agent service.
export { startAgent } from './agent.ts'
export type { Agent } from './agent.ts'
export { AgentService } from './service.ts'
export type { AgentServiceDeps, AttachTracker } from './service.ts'
export { hostSandboxes, SandboxFollower } from './sandboxes.ts'
export type { FollowedSandboxes, Sandboxes, SandboxFollowerDeps } from './sandboxes.ts'
export { parseAgentConfig, statePath, kvPath } from './config.ts'
export type { AgentConfig, AgentFlags } from './config.ts'
