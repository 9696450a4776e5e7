// IPv4 forwarding in the host's netns: the way out and published ports are routed by the host
// stack (as Docker turns it on for its bridges). Read first, written only when off; turned off
// again only by the process that turned it on (a first start that failed leaves it as found).
import { readFileSync, writeFileSync } from 'node:fs'
import { WeftError } from '../errors/index.ts'

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward'

/** Turn IPv4 forwarding on; true when it was off (this call turned it on). */
export function enableForwarding(): boolean {
  try {
    if (readFileSync(IP_FORWARD, 'utf8').trim() === '1') return false
    writeFileSync(IP_FORWARD, '1\n')
    return true
  } catch (e) {
    throw new WeftError(
      'forwarding_failed',
      `cannot turn on IPv4 forwarding (${IP_FORWARD}), which the way out needs: ${(e as Error).message}`,
    )
  }
}

/** Turn IPv4 forwarding off again: for the process whose enableForwarding() turned it on. */
export function disableForwarding(): void {
  try {
    writeFileSync(IP_FORWARD, '0\n')
  } catch (e) {
    throw new WeftError(
      'forwarding_failed',
      `cannot turn IPv4 forwarding (${IP_FORWARD}) back off as weft found it: ${(e as Error).message}; set it with sysctl -w net.ipv4.ip_forward=0`,
    )
  }
}
