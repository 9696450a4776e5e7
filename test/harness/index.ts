// Test harness public surface: real topologies in network namespaces, commands run
// inside them, traffic helpers that report what arrived, and polling with a deadline.
export {
  createTopology,
  leaks,
  requireRoot,
  newPrefix,
  setWireMode,
  UNDERLAY_SUBNET,
} from './topology.ts'
export type { Topology, Host, Container, UnderlayPort, TopologyOptions } from './topology.ts'
export { run, runIn, mustRunIn, spawnIn, nsPath, liveProcesses } from './exec.ts'
export type { RunResult, NsProcess } from './exec.ts'
export { ping, tcpTransfer } from './traffic.ts'
export type { PingResult, TransferResult } from './traffic.ts'
export { waitFor } from './wait.ts'
export {
  startDockerHost,
  stopDockerCluster,
  dockerLeaks,
  requireDocker,
  BUSYBOX_IMAGE,
  DOCKER_CLI,
} from './docker.ts'
export type { DockerHost, DockerHostOptions } from './docker.ts'
export { findProcesses, isAlive, nsId, netnsIdOf } from './processes.ts'
export type { ProcessInfo, ProcessMatch } from './processes.ts'
export {
  startEtcdCluster,
  etcdLeaks,
  requireEtcd,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
} from './etcd.ts'
export type { EtcdCluster, EtcdMember, EtcdOptions, EtcdStatus } from './etcd.ts'
