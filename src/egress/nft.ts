// The host's one nftables table, `inet weft`: rendered from what the host should hold (pure),
// applied as one atomic `nft -f -` transaction that replaces the whole table, and read back
// (published ports and their counters) from the rules' comments.
//
//   postrouting  ONE masquerade rule: sources in a non-internal weft subnet, going to no weft
//                subnet, leaving by a non-weft interface, get the host's address (the way out);
//                and one for hairpin: a container reaching a port published on its own host
//   prerouting   to a local address: published ports, one DNAT rule each (the way in)
//   output       the same for connections the host itself opens to its own addresses
//   forward      towards a container (oifname wf*) only replies and published ports pass
//                (one counting rule each): nobody outside, or in another network, reaches a
//                container by routing to it
//
// Why one table replaced whole: the state is small (subnets + published ports), replacing it
// in one transaction is atomic (no packet sees half a table) and level-triggered (whatever
// drifted is put back), and nothing outside the table is ever touched.
import { WeftError } from '../errors/index.ts'
import { exec } from '../net/index.ts'
import type { PortProto, PublishedPort } from './ports.ts'

export const TABLE = 'weft'
const HOST_VETHS = 'wf*'
const PUB_TAG = 'weft-pub'

/** One endpoint's published ports. */
export interface Publication {
  vni: number
  /** The endpoint's address (the DNAT target). */
  ip: string
  ports: PublishedPort[]
}

export interface TableState {
  /** Subnets whose sources are masqueraded on the way out (networks that are not internal). */
  natSources: string[]
  /** Every weft subnet of the cluster: never masqueraded towards. */
  weftSubnets: string[]
  publications: Publication[]
}

/** Counters of one published port, as the kernel holds them. */
export interface PublishedCounters extends Publication {
  port: PublishedPort
  /** Connections DNATed (a NAT rule sees only each connection's first packet). */
  connections: bigint
  /** Packets and bytes forwarded to the container through the publication. */
  packets: bigint
  bytes: bigint
}

/** Failure of an `nft` run. */
export class NftError extends WeftError {
  override name = 'NftError'
  constructor(
    message: string,
    readonly stderr: string,
  ) {
    super('nft_failed', message)
  }
}

const set = (name: string, cidrs: string[]) => [
  `\tset ${name} {`,
  '\t\ttype ipv4_addr; flags interval;',
  ...(cidrs.length ? [`\t\telements = { ${[...cidrs].sort().join(', ')} }`] : []),
  '\t}',
]

const pubComment = (pub: Publication, p: PublishedPort) =>
  [PUB_TAG, pub.vni, pub.ip, p.proto, p.hostIp ?? '*', p.hostPort, p.containerPort].join(' ')

function dnatRule(pub: Publication, p: PublishedPort): string {
  return `\t\t${p.hostIp ? `ip daddr ${p.hostIp} ` : ''}${p.proto} dport ${p.hostPort} counter dnat ip to ${pub.ip}:${p.containerPort} comment "${pubComment(pub, p)}"`
}

/** The forward rule that lets a publication's connections in, and counts their packets. */
function inboundRule(pub: Publication, p: PublishedPort): string {
  return `\t\toifname "${HOST_VETHS}" ip daddr ${pub.ip} ${p.proto} dport ${p.containerPort} ct status dnat counter accept comment "${pubComment(pub, p)}"`
}

/** The `nft -f` script that replaces table inet weft with `s` (pure). */
export function renderTable(s: TableState): string {
  const pubs = [...s.publications].sort((a, b) => a.vni - b.vni || a.ip.localeCompare(b.ip))
  return [
    // declare-then-delete: replaces the table whether or not it exists, in one transaction
    `table inet ${TABLE}`,
    `delete table inet ${TABLE}`,
    `table inet ${TABLE} {`,
    ...set('nat_sources', s.natSources),
    ...set('weft_subnets', s.weftSubnets),
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    `\t\tip saddr @nat_sources ip daddr != @weft_subnets oifname != "${HOST_VETHS}" counter masquerade comment "weft way out"`,
    // a container reaching a port published on its own host: the answer must come back
    // through conntrack, not straight over the overlay (or be dropped as another network's)
    `\t\tip saddr @weft_subnets oifname "${HOST_VETHS}" ct status dnat counter masquerade comment "weft hairpin"`,
    '\t}',
    '\tchain prerouting {',
    '\t\ttype nat hook prerouting priority dstnat; policy accept;',
    '\t\tfib daddr type local jump published',
    '\t}',
    '\tchain output {',
    '\t\ttype nat hook output priority -100; policy accept;',
    '\t\tip daddr != 127.0.0.0/8 fib daddr type local jump published',
    '\t}',
    '\tchain published {',
    ...pubs.flatMap((pub) => pub.ports.map((p) => dnatRule(pub, p))),
    '\t}',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy accept;',
    // first, so they count every packet of a publication's connections, not only the first
    ...pubs.flatMap((pub) => pub.ports.map((p) => inboundRule(pub, p))),
    `\t\toifname "${HOST_VETHS}" ct state established,related accept`,
    `\t\toifname "${HOST_VETHS}" ct status dnat accept`,
    `\t\toifname "${HOST_VETHS}" counter drop comment "weft: no way in but replies and published ports"`,
    '\t}',
    '}',
    '',
  ].join('\n')
}

async function nft(args: string[], input?: string): Promise<string> {
  const r = await exec(['nft', ...args], input)
  if (r.code !== 0)
    throw new NftError(
      `\`nft ${args.join(' ')}\` failed: ${r.stderr.trim() || `exit code ${r.code}`}`,
      r.stderr,
    )
  return r.stdout
}

/** Fails with what to install when `nft` cannot run. */
export async function assertNft(): Promise<void> {
  try {
    await nft(['--version'])
  } catch (e) {
    throw new WeftError(
      'nft_missing',
      `the way out of weft networks needs nftables' \`nft\` (Debian/Ubuntu: apt-get install nftables): ${(e as Error).message}`,
    )
  }
}

export async function applyTable(s: TableState): Promise<void> {
  await nft(['-f', '-'], renderTable(s))
}

/** Delete weft's table; false when there was none (or no `nft`: weft never made one here). */
export async function removeTable(): Promise<boolean> {
  let r
  try {
    r = await exec(['nft', 'delete', 'table', 'inet', TABLE])
  } catch (e) {
    if (e instanceof WeftError && e.code === 'exec_failed') return false // no nft: weft never made a table here
    throw e
  }
  if (r.code === 0) return true
  if (/No such file or directory/.test(r.stderr)) return false
  throw new NftError(`\`nft delete table inet ${TABLE}\` failed: ${r.stderr.trim()}`, r.stderr)
}

interface NftRule {
  rule?: {
    chain: string
    comment?: string
    expr?: { counter?: { packets: number; bytes: number } }[]
  }
}

/** Published ports and their counters as the kernel holds them; [] when the table is absent. */
export async function readPublished(): Promise<PublishedCounters[]> {
  const r = await exec(['nft', '-j', 'list', 'table', 'inet', TABLE])
  if (r.code !== 0) {
    if (/No such file or directory/.test(r.stderr)) return []
    throw new NftError(`\`nft -j list table inet ${TABLE}\` failed: ${r.stderr.trim()}`, r.stderr)
  }
  return publishedFromJson(r.stdout)
}

/** readPublished's parse of `nft -j list table inet weft` (pure). */
export function publishedFromJson(text: string): PublishedCounters[] {
  const out = new Map<string, PublishedCounters>()
  const inbound = new Map<string, { packets: number; bytes: number }>()
  for (const item of (JSON.parse(text) as { nftables: NftRule[] }).nftables) {
    const rule = item.rule
    if (!rule?.comment || !parsePubComment(rule.comment)) continue
    const counter = rule.expr?.find((e) => e.counter)?.counter ?? { packets: 0, bytes: 0 }
    if (rule.chain === 'published') {
      out.set(rule.comment, {
        ...parsePubComment(rule.comment)!,
        connections: BigInt(counter.packets),
        packets: 0n,
        bytes: 0n,
      })
    } else if (rule.chain === 'forward') {
      inbound.set(rule.comment, counter)
    }
  }
  for (const [comment, c] of inbound) {
    const p = out.get(comment)
    if (p) Object.assign(p, { packets: BigInt(c.packets), bytes: BigInt(c.bytes) })
  }
  return [...out.values()]
}

/** Inverse of dnatRule's comment; undefined for anything else. */
export function parsePubComment(
  comment: string,
): Omit<PublishedCounters, 'connections' | 'packets' | 'bytes'> | undefined {
  const f = comment.split(' ')
  if (f.length !== 7 || f[0] !== PUB_TAG) return undefined
  const [, vni, ip, proto, hostIp, hostPort, containerPort] = f as [
    string,
    string,
    string,
    PortProto,
    string,
    string,
    string,
  ]
  const port: PublishedPort = {
    proto,
    ...(hostIp !== '*' ? { hostIp } : {}),
    hostPort: Number(hostPort),
    containerPort: Number(containerPort),
  }
  return { vni: Number(vni), ip, ports: [port], port }
}
