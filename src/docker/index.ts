// The Docker network and IPAM plugin (`weft agent --docker`): Docker's remote driver
// protocol on /run/docker/plugins/weft.sock, weft networks mirrored into this host's Docker,
// and reconciliation after restarts. It reaches weft only through DockerBackend.
export { startDockerPlugin } from './plugin.ts'
export type { DockerPlugin, DockerPluginOptions } from './plugin.ts'
export { clusterBackend } from './cluster-backend.ts'
export type { ClusterBackendDeps } from './cluster-backend.ts'
export type { DockerBackend, NewDockerEndpoint, NewNetwork } from './backend.ts'
export { DEFAULT_PLUGIN_SOCKET } from './server.ts'
export { DockerEngine, DockerApiError } from './engine.ts'
export { PLUGIN_NAME } from './protocol.ts'
