// etcd's user/password authentication: a token from /v3/auth/authenticate, sent as the
// Authorization header; fetched on first use per member and again after etcd rejects it.
import { EtcdServerError } from './errors.ts'
export class EtcdAuth {
  private readonly tokens = new Map<string, Promise<string>>()

  constructor(
    private readonly user: string,
    private readonly password: string,
  ) {}

  /** From the store token option: "USER:PASSWORD". */
  static parse(token: string): EtcdAuth {
    const i = token.indexOf(':')
    if (i <= 0)
      throw new Error('the etcd store token must be USER:PASSWORD (etcd user authentication)')
    return new EtcdAuth(token.slice(0, i), token.slice(i + 1))
  }

  token(member: string, init: RequestInit): Promise<string> {
    let t = this.tokens.get(member)
    if (!t) {
      t = this.authenticate(member, init)
      this.tokens.set(member, t)
      t.catch(() => this.tokens.delete(member))
    }
    return t
  }

  forget(member: string): void {
    this.tokens.delete(member)
  }

  private async authenticate(member: string, init: RequestInit): Promise<string> {
    const res = await fetch(`${member}/v3/auth/authenticate`, {
      ...init,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: this.user, password: this.password }),
    })
    const text = await res.text()
    let reply: { token?: string; message?: string; error?: string }
    try {
      reply = JSON.parse(text)
    } catch {
      reply = { message: text.trim().slice(0, 300) || `HTTP ${res.status}` }
    }
    if (!reply.token && /CommonName/.test(reply.message ?? '')) {
      throw new EtcdServerError(
        member,
        '/v3/auth/authenticate',
        16,
        `etcd user ${this.user}: this member checks client certificates, and etcd's gateway takes no user/password together with them: ` +
          'use either a client certificate (--store-cert/--store-key) or etcd users (--store-token USER:PASSWORD) with a member that does not require certificates',
      )
    }
    if (!reply.token) {
      throw new EtcdServerError(
        member,
        '/v3/auth/authenticate',
        16,
        `etcd user ${this.user}: ${reply.message ?? reply.error ?? `HTTP ${res.status}`}: check the store token (USER:PASSWORD)`,
      )
    }
    return reply.token
  }
}
