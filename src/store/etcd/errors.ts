// What etcd itself answered when it refused a request (not a reachability failure).
/** An error etcd answered (a gRPC status through the gateway). */
export class EtcdServerError extends Error {
  override name = 'EtcdServerError'
  constructor(
    readonly member: string,
    readonly path: string,
    /** gRPC status code (5 not found, 9 failed precondition, 14 unavailable, 16 unauthenticated). */
    readonly grpcCode: number,
    readonly etcdMessage: string,
  ) {
    super(`etcd ${member} ${path}: ${etcdMessage}`)
  }
}
