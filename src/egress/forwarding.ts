// IPv4 forwarding in the host's netns: the way out and published ports are routed by the host
// stack (as Docker turns it on for its bridges). Read first, written only when off.
import { readFileSync, writeFileSync } from 'node:fs'
import { WeftError } from '../errors/index.ts'

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward'

export function enableForwarding(): void {
  try {
    if (readFileSync(IP_FORWARD, 'utf8').trim() === '1') return
    writeFileSync(IP_FORWARD, '1\n')
  } catch (e) {
    throw new WeftError('forwarding_failed', `cannot turn on IPv4 forwarding (${IP_FORWARD}), which the way out needs: ${(e as Error).message}`)
  }
}
