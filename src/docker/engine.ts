// A small client for the Docker Engine API over its unix socket: the networks calls the
// plugin needs to make weft networks appear in this host's Docker and to read back what
// Docker holds (restart reconciliation). Errors carry Docker's own message.
import { NotFoundError, WeftError } from '../errors/index.ts'

export interface DockerNetwork {
  Id: string
  Name: string
  Driver: string
  Scope?: string
  Internal?: boolean
  IPAM?: {
    Driver?: string
    Config?: { Subnet?: string; IPRange?: string; Gateway?: string }[]
    Options?: Record<string, string> | null
  }
  Options?: Record<string, string> | null
  Labels?: Record<string, string> | null
  /** Containers joined to it, by container id (only from GET /networks/{id}). */
  Containers?: Record<
    string,
    { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string }
  > | null
}

export interface DockerContainer {
  Id: string
  Name: string
  /** Pid: the container's init process (0 until it runs). */
  State?: { Pid?: number }
  NetworkSettings?: {
    Networks?: Record<string, { EndpointID?: string; Aliases?: string[] | null }> | null
  }
}

export interface NetworkCreateBody {
  Name: string
  CheckDuplicate: boolean
  Driver: string
  Internal: boolean
  IPAM: {
    Driver: string
    Config: { Subnet: string; Gateway: string; IPRange?: string }[]
    Options: Record<string, string>
  }
  Options: Record<string, string>
  Labels: Record<string, string>
}

/** Docker answered with an error status (its message included). */
export class DockerApiError extends WeftError {
  override name = 'DockerApiError'
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('docker_api', message)
  }
}

export class DockerEngine {
  readonly socketPath: string

  constructor(
    address: string,
    private readonly timeoutMs = 10_000,
  ) {
    const m = /^unix:\/\/(\/.+)$/.exec(address)
    if (!m)
      throw new WeftError(
        'invalid_input',
        `--docker "${address}" must be unix:///PATH (Docker's API socket, e.g. unix:///var/run/docker.sock)`,
      )
    this.socketPath = m[1]!
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let res: Response
    try {
      res = await fetch(`http://docker${path}`, {
        method,
        unix: this.socketPath,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      } as RequestInit)
    } catch (e) {
      throw new WeftError(
        'docker_unreachable',
        `docker API at unix://${this.socketPath} unreachable: ${(e as Error).message} (is dockerd running?)`,
        { cause: e },
      )
    }
    const text = await res.text()
    if (!res.ok) {
      let message = text.trim()
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message
      } catch {}
      if (res.status === 404) throw new NotFoundError(`docker: ${message}`)
      throw new DockerApiError(
        res.status,
        `docker ${method} ${path.split('?')[0]}: ${res.status} ${message}`,
      )
    }
    return (text ? JSON.parse(text) : undefined) as T
  }

  ping(): Promise<unknown> {
    return this.call('GET', '/_ping').catch((e) => {
      // /_ping answers "OK" as text, not JSON
      if (e instanceof SyntaxError) return 'OK'
      throw e
    })
  }

  /** Networks whose driver is `driver` (list entries carry no Containers). */
  networks(driver: string): Promise<DockerNetwork[]> {
    const filters = encodeURIComponent(JSON.stringify({ driver: [driver] }))
    return this.call<DockerNetwork[]>('GET', `/networks?filters=${filters}`)
  }

  /** One network with its joined containers; NotFoundError when Docker has none by that id. */
  network(id: string): Promise<DockerNetwork> {
    return this.call<DockerNetwork>('GET', `/networks/${encodeURIComponent(id)}`)
  }

  /** One container (inspect); NotFoundError when there is none. */
  container(id: string): Promise<DockerContainer> {
    return this.call<DockerContainer>('GET', `/containers/${encodeURIComponent(id)}/json`)
  }

  async createNetwork(body: NetworkCreateBody): Promise<string> {
    return (await this.call<{ Id: string }>('POST', '/networks/create', body)).Id
  }

  /** Remove a network; missing is fine. */
  async removeNetwork(id: string): Promise<void> {
    try {
      await this.call('DELETE', `/networks/${encodeURIComponent(id)}`)
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e
    }
  }
}
