// The names module's errors: a resolver address that cannot be served in a sandbox, and a
// forward that no upstream resolver answered. Neither fails a connect: names are logged
// and counted, the network itself keeps working.
import { WeftError } from '../errors/index.ts'

/** 127.0.0.11:53 could not be served in a sandbox (taken, or the netns is gone). */
export class ListenError extends WeftError {
  override name = 'ListenError'
  constructor(message: string, cause?: unknown) {
    super('dns_listen', message, { cause })
  }
}

/** No upstream resolver answered a forwarded query (the client gets SERVFAIL). */
export class UpstreamError extends WeftError {
  override name = 'UpstreamError'
  constructor(message: string) {
    super('dns_upstream', message)
  }
}
