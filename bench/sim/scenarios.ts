// The simulator's scenarios (run.ts runs them; host-cost.ts takes one host of one).
import type { Scenario } from './layout.ts'

// Each store watch is one parked HTTP request and one socket in the store process, whose open
// files are capped at 20,000 here: scenarios keep hosts x (2 + networks per host) below that.
export const SMOKE: Scenario = {
  name: 'smoke',
  hosts: 20,
  endpoints: 400,
  hostsPerNetwork: 5,
  perHost: 1,
}
export const SCENARIOS: Scenario[] = [
  // the target first: 1,000 hosts, 20,000 endpoints over 2,000 networks
  { name: '1000h-20k-k5', hosts: 1000, endpoints: 20_000, hostsPerNetwork: 5, perHost: 2 },
  { name: '100h-10k-k10', hosts: 100, endpoints: 10_000, hostsPerNetwork: 10, perHost: 1 },
  { name: '300h-10k-k10', hosts: 300, endpoints: 10_000, hostsPerNetwork: 10, perHost: 1 },
  { name: '300h-10k-k200', hosts: 300, endpoints: 10_000, hostsPerNetwork: 200, perHost: 1 },
  { name: '1000h-50k-k10', hosts: 1000, endpoints: 50_000, hostsPerNetwork: 10, perHost: 5 },
  { name: '100h-10k-k5', hosts: 100, endpoints: 10_000, hostsPerNetwork: 5, perHost: 2 },
  // 1,000 hosts that fit this machine's memory: 200 networks (every host holds every network record)
  { name: '1000h-10k-k50', hosts: 1000, endpoints: 10_000, hostsPerNetwork: 50, perHost: 1 },
]
/** Small sizes where the whole-tree design still fits this machine: the old curve, beside the new. */
export const CURVE: Scenario[] = [
  { name: '30h-1k-k10', hosts: 30, endpoints: 1_000, hostsPerNetwork: 10, perHost: 1 },
  { name: '60h-2k-k10', hosts: 60, endpoints: 2_000, hostsPerNetwork: 10, perHost: 1 },
  { name: '100h-3k-k10', hosts: 100, endpoints: 3_000, hostsPerNetwork: 10, perHost: 1 },
]
/**
 * Run only when named: the target's shape per host (2,000 networks, networks of 5 hosts) on a
 * quarter of the hosts, small enough to profile (--cpu-prof) within the memory guard.
 */
export const PROFILE: Scenario[] = [
  { name: '250h-20k-k5', hosts: 250, endpoints: 20_000, hostsPerNetwork: 5, perHost: 2 },
]
