// The weft agent: configuration, the composition root and the agent service.
export { startAgent } from './agent.ts'
export type { Agent } from './agent.ts'
export { AgentService, hostSandboxes } from './service.ts'
export type { AgentServiceDeps, AttachTracker, Sandboxes } from './service.ts'
export { parseAgentConfig, statePath, kvPath } from './config.ts'
export type { AgentConfig, AgentFlags } from './config.ts'
