// Teardown for the names tests: disconnect every endpoint through its own agent (the last
// disconnect of a sandbox removes the /etc/netns resolv.conf weft wrote for it), then report
// any /etc/netns entry of this run that is still there, and remove it.
import { existsSync, readdirSync, rmSync } from 'node:fs'
import type { RunningAgent } from '../agent/agents.ts'

export const ETC_NETNS = '/etc/netns'

export async function disconnectAll(agents: RunningAgent[] | undefined): Promise<void> {
  for (const a of agents ?? []) {
    const eps = await a.api('GET', '/v1/endpoints').catch(() => ({ status: 0, body: [] }))
    if (eps.status !== 200) continue
    for (const e of eps.body as {
      networkId: string
      id: string
      node?: string
      external: boolean
    }[]) {
      if (e.external || e.node !== a.node) continue
      await a.api('POST', `/v1/networks/${e.networkId}/disconnect`, { endpoint: e.id })
    }
  }
}

/** /etc/netns entries of this run still present (removed here, so a failure leaves nothing). */
export function etcNetnsLeftovers(prefix: string): string[] {
  const left = existsSync(ETC_NETNS)
    ? readdirSync(ETC_NETNS).filter((n) => n.startsWith(prefix))
    : []
  for (const n of left) rmSync(`${ETC_NETNS}/${n}`, { recursive: true, force: true })
  return left
}
