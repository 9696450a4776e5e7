// The weft agent: configuration and the composition root.
export { startAgent } from './agent.ts'
export type { Agent } from './agent.ts'
export { parseAgentConfig, statePath, kvPath } from './config.ts'
export type { AgentConfig, AgentFlags } from './config.ts'
