// A store given as several servers (`consul://A:8500,B:8500,C:8500`, as Docker's store flags
// took them): requests go to the server that answered last and move on in turn when it cannot
// be reached. Any HTTP answer, even an error status, means the server was reached.

export class ServerList {
  readonly urls: string[]
  private at = 0

  constructor(address: string, secure: boolean) {
    const parts = address.split(',').map((p) => p.trim())
    if (parts.some((p) => p === ''))
      throw new Error(`store ${address}: empty server in the list; write consul://A:8500,B:8500`)
    // The first server's scheme applies to those written without one.
    const scheme = /^[a-z]+:\/\//i.exec(parts[0]!)?.[0] ?? ''
    this.urls = [
      ...new Set(
        parts.map((p) => normalizeAddress(/^[a-z]+:\/\//i.test(p) ? p : scheme + p, secure)),
      ),
    ]
  }

  /** The server to try first. */
  get current(): string {
    return this.urls[this.at]!
  }

  /** Every server, starting with the current one. */
  inTurn(): string[] {
    return [...this.urls.slice(this.at), ...this.urls.slice(0, this.at)]
  }

  /** `url` answered: start there next time. */
  answered(url: string): void {
    const i = this.urls.indexOf(url)
    if (i >= 0) this.at = i
  }
}

/** One server's base URL: `consul://` and a bare host:port become http(s)://. */
export function normalizeAddress(address: string, secure = false): string {
  let a = address.trim().replace(/\/+$/, '')
  const scheme = secure ? 'https' : 'http'
  if (a.startsWith('consul://')) a = `${scheme}://${a.slice('consul://'.length)}`
  if (!/^https?:\/\//.test(a)) a = `${scheme}://${a}`
  if (secure && a.startsWith('http://')) {
    throw new Error(
      `store ${address}: a CA was given for it, so it must be reached over TLS; use https:// or consul://`,
    )
  }
  return a
}
