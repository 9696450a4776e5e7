// The store export document: every key under weft/v1/ as one versioned JSON document, so a
// running cluster moves between stores (embedded, etcd, a real Consul) without touching its
// containers: export from the old store, import into the new one, restart each agent with the
// new --store. The agents' reconcilers then see the same records (same ids, addresses, MACs).
//
// Design notes (2026-12):
// - Node records (weft/v1/nodes/*) are liveness, held by their agent's lease: they are not
//   copied as permanent keys (a dead node would look alive forever). They travel apart
//   (`nodes`) and are imported bound to a short grace lease under the agent's own lease name
//   (`weft-node-<name>`, see agent/registration.ts): the moved cluster sees every node alive
//   until its agent re-registers on the new store, which revokes the grace lease by that name
//   and claims the record. A node whose agent does not come within the grace is dead there,
//   as it would be on the old store.
// - Everything else is copied as it is. Revisions are not: the new store numbers its own.
// - The store's incarnation (./incarnation.ts) is not cluster data but the identity of the
//   store's data: not exported, and the import writes a fresh one (a restore is new data, so
//   each agent re-announces at its restart what the export lacked). An empty store that holds
//   only an incarnation (an agent met it) is still empty.
// - The import refuses a target that already holds cluster records (nothing written) unless
//   forced; forced, the target ends up equal to the document (extra keys deleted).
// - Keys go in transactions of at most 64 ops (Consul's and etcd's caps are 128), so a large
//   cluster is several transactions: an unforced import puts each key only if absent, so a
//   writer racing it is detected, not overwritten.
import { ConflictError, ValidationError } from '../errors/index.ts'
import { ROOT } from '../cluster/index.ts'
import type { ClusterStore, StoreOp } from './types.ts'
import { INCARNATION_KEY, renewIncarnation } from './incarnation.ts'

export const EXPORT_FORMAT = 'weft-store-export'
export const EXPORT_VERSION = 1

const NODES = `${ROOT}nodes/`

/** The lease name an agent registers its node record under (agent/registration.ts). */
export const nodeLeaseName = (node: string) => `weft-node-${node}`

export interface ExportedKey {
  key: string
  value: string
}

export interface StoreExport {
  format: typeof EXPORT_FORMAT
  version: typeof EXPORT_VERSION
  /** Every key of the document is under this prefix. */
  root: typeof ROOT
  /** ISO time of the export. */
  exportedAt: string
  /** The store it was read from, as its client names it (e.g. consul://198.18.0.1:8500). */
  source: string
  /** Every key under `root` except node records, sorted. */
  keys: ExportedKey[]
  /** Node records (lease-bound liveness): imported bound to a grace lease, never as permanent keys. */
  nodes: ExportedKey[]
}

/** Read every key under weft/v1/ (one consistent read) into an export document. */
export async function exportStore(
  store: ClusterStore,
  now: () => Date = () => new Date(),
): Promise<StoreExport> {
  const entries = await store.list(ROOT)
  const keys: ExportedKey[] = []
  const nodes: ExportedKey[] = []
  for (const e of [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)))
    if (e.key !== INCARNATION_KEY)
      (e.key.startsWith(NODES) ? nodes : keys).push({ key: e.key, value: e.value })
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    root: ROOT,
    exportedAt: now().toISOString(),
    source: store.address,
    keys,
    nodes,
  }
}

/** The document as text: one key per line, so a diff of two exports reads well. */
export function formatStoreExport(doc: StoreExport): string {
  const list = (xs: ExportedKey[]) =>
    xs.length ? `[\n${xs.map((x) => `    ${JSON.stringify(x)}`).join(',\n')}\n  ]` : '[]'
  return [
    '{',
    `  "format": ${JSON.stringify(doc.format)},`,
    `  "version": ${doc.version},`,
    `  "root": ${JSON.stringify(doc.root)},`,
    `  "exportedAt": ${JSON.stringify(doc.exportedAt)},`,
    `  "source": ${JSON.stringify(doc.source)},`,
    `  "keys": ${list(doc.keys)},`,
    `  "nodes": ${list(doc.nodes)}`,
    '}',
  ].join('\n')
}

/** Parse and check an export document; `what` names where it came from, for messages. */
export function parseStoreExport(text: string, what = 'the export'): StoreExport {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw new ValidationError(
      `${what} is not JSON (${(e as Error).message}): give the output of \`weft store export\` whole`,
    )
  }
  const bad = (why: string): never => {
    throw new ValidationError(`${what} is not a weft store export: ${why}`)
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) bad('expected a JSON object')
  const d = raw as Record<string, unknown>
  if (d.format !== EXPORT_FORMAT) bad(`"format" must be "${EXPORT_FORMAT}"`)
  if (typeof d.version !== 'number' || !Number.isInteger(d.version)) bad('"version" is missing')
  if ((d.version as number) > EXPORT_VERSION)
    throw new ValidationError(
      `${what} is format version ${d.version}, written by a newer weft (this one reads version ${EXPORT_VERSION}): import it with that weft`,
    )
  if (d.version !== EXPORT_VERSION) bad(`version ${d.version} is unknown`)
  if (d.root !== ROOT) bad(`"root" must be "${ROOT}"`)
  const seen = new Set<string>()
  const entries = (field: 'keys' | 'nodes'): ExportedKey[] => {
    const xs = d[field]
    if (!Array.isArray(xs)) return bad(`"${field}" must be a list`)
    return xs.map((x, i) => {
      const e = x as Partial<ExportedKey> | null
      if (!e || typeof e.key !== 'string' || typeof e.value !== 'string')
        return bad(`${field}[${i}] must be {"key": text, "value": text}`)
      if (!e.key.startsWith(ROOT) || e.key.length === ROOT.length)
        return bad(`${field}[${i}] "${e.key}" is not under ${ROOT}`)
      if (e.key.startsWith(NODES) !== (field === 'nodes'))
        return bad(
          field === 'nodes'
            ? `nodes[${i}] "${e.key}" is not a node record (${NODES}…)`
            : `keys[${i}] "${e.key}" is a node record: those belong in "nodes"`,
        )
      if (seen.has(e.key)) return bad(`"${e.key}" is listed twice`)
      seen.add(e.key)
      return { key: e.key, value: e.value }
    })
  }
  return {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    root: ROOT,
    exportedAt: typeof d.exportedAt === 'string' ? d.exportedAt : '',
    source: typeof d.source === 'string' ? d.source : '',
    keys: entries('keys'),
    nodes: entries('nodes'),
  }
}

export interface ImportOptions {
  /** Replace the target's cluster records (default: refuse a target that holds any). */
  force?: boolean
  /** How long imported node records stay alive without their agent (default 60 s). */
  nodeGraceMs?: number
}

export interface ImportResult {
  /** Keys written (all of the document's). */
  written: number
  /** Keys of the target deleted because the document does not have them (forced only). */
  deleted: number
  /** Node records imported on a grace lease. */
  nodesOnGrace: string[]
  /** Node records the target already holds alive (their agents are on it already): left alone. */
  nodesLive: string[]
}

/** The target holds cluster records and the import was not forced: nothing was written. */
export class StoreNotEmptyError extends ConflictError {
  override name = 'StoreNotEmptyError'
  constructor(
    readonly target: string,
    readonly held: string[],
  ) {
    super(
      `${target} already holds ${held.length} weft key${held.length === 1 ? '' : 's'} (e.g. ${held[0]}): nothing was written; ` +
        'import into an empty store, or pass --force to replace its cluster records with the export',
      'store_not_empty',
    )
  }
}

/** Keys per transaction, and bytes: below Consul's 128 ops / 512 KiB and etcd's 128 ops / 1.5 MiB. */
const TXN_OPS = 64
const TXN_BYTES = 256 * 1024

function batches(ops: StoreOp[]): StoreOp[][] {
  const out: StoreOp[][] = []
  let cur: StoreOp[] = []
  let bytes = 0
  for (const op of ops) {
    const size = op.op === 'put' ? op.key.length + op.value.length : 64
    if (cur.length && (cur.length >= TXN_OPS || bytes + size > TXN_BYTES)) {
      out.push(cur)
      cur = []
      bytes = 0
    }
    cur.push(op)
    bytes += size
  }
  if (cur.length) out.push(cur)
  return out
}

/** Write an export document into `store` (see the design notes at the top). */
export async function importStore(
  store: ClusterStore,
  doc: StoreExport,
  o: ImportOptions = {},
): Promise<ImportResult> {
  const graceMs = o.nodeGraceMs ?? 60_000
  const present = await store.list(ROOT)
  const held = present.filter((e) => !e.key.startsWith(NODES) && e.key !== INCARNATION_KEY)
  if (held.length && !o.force)
    throw new StoreNotEmptyError(
      store.address,
      held.map((e) => e.key),
    )

  // the restored data is a new incarnation, written before any of it: an import cut off part way
  // still reads as new data, so restarted agents write back what it lacks
  await renewIncarnation(store)

  let written = 0
  // an incarnation in a (hand-made) document is the old store's: the import makes its own
  const docKeys = doc.keys.filter((k) => k.key !== INCARNATION_KEY)
  for (const batch of batches(
    docKeys.map((k): StoreOp => ({
      op: 'put',
      key: k.key,
      value: k.value,
      ...(o.force ? {} : { ifRevision: 0n }),
    })),
  )) {
    const r = await store.txn(batch)
    if (!r.ok) {
      const key = (batch[r.failed[0] ?? 0] as { key: string }).key
      throw new ConflictError(
        `${store.address} changed during the import: ${key} was written by someone else; ${written} of ${docKeys.length} keys are in. ` +
          'Stop whatever writes to it, then import again with --force',
        'store_changed',
      )
    }
    written += batch.length
  }

  const wanted = new Set(docKeys.map((k) => k.key))
  const extra = held.filter((e) => !wanted.has(e.key))
  for (const batch of batches(extra.map((e): StoreOp => ({ op: 'delete', key: e.key }))))
    await store.txn(batch)

  const live = new Set(present.filter((e) => e.key.startsWith(NODES)).map((e) => e.key))
  const nodesOnGrace: string[] = []
  const nodesLive: string[] = []
  for (const n of doc.nodes) {
    const name = n.key.slice(NODES.length)
    if (live.has(n.key)) {
      nodesLive.push(name)
      continue
    }
    const lease = await store.leases.grant({ name: nodeLeaseName(name), ttlMs: graceMs })
    if (await store.leases.claim(n.key, n.value, lease)) nodesOnGrace.push(name)
    else {
      // its agent registered between our read and now: its record is the live one
      await store.leases.revoke(lease)
      nodesLive.push(name)
    }
  }
  return { written, deleted: extra.length, nodesOnGrace, nodesLive }
}
