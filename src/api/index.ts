// Admin API public surface.
export { createApp, MAX_BODY_BYTES } from './app.ts'
export { serveApi, parseTcpAddress } from './serve.ts'
export type { ApiListeners } from './serve.ts'
export type { AgentApi, EndpointStatus, NodeStatus, PeerProbeStatus, HealthReport } from './deps.ts'
export { dockerNetwork, VXLAN_ID_OPTION } from './docker-shape.ts'
