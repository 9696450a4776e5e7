// The cluster store as `weft store export|import` reach it, with the agent's flags and secrets:
// - etcd[s]://A:2379,B:2379: etcd (--store-token USER:PASSWORD, --store-ca/-cert/-key);
// - consul://HOST:8500 (or https://, http://): a weft host's embedded store (its join token:
//   --join-token[-file], $WEFT_JOIN_TOKEN, or the one kept in --data DIR/join-token) or a real
//   Consul (--store-token, --store-ca);
// - embedded: the embedded store file of a stopped agent (--data DIR --name NODE), opened in
//   this process: how a cluster moves back onto the embedded store before that agent starts.
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { ValidationError } from '../errors/index.ts'
import { readSecret, SecretError } from '../util/secret.ts'
import { AGENT_DEFAULTS } from '../agent/config.ts'
import type { ClusterStore } from '../store/index.ts'
import type { FlagValues } from './spec.ts'

export interface OpenedStore {
  store: ClusterStore
  /** Things worth saying (e.g. a token sent in clear). */
  warnings: string[]
  close(): Promise<void>
}

/** The flags every `weft store` command takes to reach a store, as the agent's. */
export const STORE_ACCESS_FLAGS = [
  'store',
  'join-token',
  'join-token-file',
  'store-token',
  'store-token-file',
  'store-ca',
  'store-cert',
  'store-key',
  'data',
  'name',
] as const

/** The CLI's requests: a few retries, an answer within 10 s (an import is not latency-bound). */
const CLIENT = { retries: 2, timeoutMs: 10_000 }

const str = (f: FlagValues, k: string) => (typeof f[k] === 'string' ? (f[k] as string) : undefined)

function secret(
  f: FlagValues,
  flag: 'store-token' | 'join-token',
  envName: string,
  env: Record<string, string | undefined>,
): string | undefined {
  try {
    return readSecret({ flag, value: str(f, flag), file: str(f, `${flag}-file`), envName, env })
  } catch (e) {
    if (e instanceof SecretError) throw new ValidationError(e.message)
    throw e
  }
}

export async function openStoreFromFlags(
  f: FlagValues,
  env: Record<string, string | undefined>,
  o: { forImport?: boolean } = {},
): Promise<OpenedStore> {
  const url = str(f, 'store')
  if (!url)
    throw new ValidationError(
      "--store is required: etcd://HOST:2379[,…], consul://HOST:8500[,…] (with its join token or --store-token), or embedded (a stopped agent's store, with --data and --name)",
    )
  const storeToken = secret(f, 'store-token', 'WEFT_STORE_TOKEN', env)
  const joinToken = secret(f, 'join-token', 'WEFT_JOIN_TOKEN', env)
  const refuse = (flags: string[], why: string) => {
    const given = flags.find((k) => f[k] !== undefined)
    if (given) throw new ValidationError(`--${given} ${why}`)
  }
  if (/^etcds?:\/\//.test(url)) {
    refuse(['join-token', 'join-token-file', 'data', 'name'], `is not for an etcd store (${url})`)
    const { parseEtcdUrl, etcdTlsFiles } = await import('../store/etcd/url.ts')
    const { EtcdStore } = await import('../store/etcd/index.ts')
    const parsed = parseEtcdUrl(url)
    const tls = etcdTlsFiles(url, parsed.tls, {
      ca: str(f, 'store-ca'),
      cert: str(f, 'store-cert'),
      key: str(f, 'store-key'),
    })
    const store = new EtcdStore({ endpoints: parsed.endpoints, token: storeToken, tls })
    return { store, warnings: [], close: async () => {} }
  }
  refuse(['store-cert', 'store-key'], 'is for an etcd store over TLS (--store etcds://…)')
  if (url === 'embedded') {
    refuse(
      ['join-token', 'join-token-file', 'store-token', 'store-token-file', 'store-ca'],
      'is not for --store embedded (the store file is opened here, no network)',
    )
    return openEmbeddedFile(str(f, 'data') ?? AGENT_DEFAULTS.data, str(f, 'name'), !!o.forImport)
  }
  if (!/^(consul|https?):\/\//.test(url))
    throw new ValidationError(
      `--store "${url}" must be etcd://HOST:PORT[,…], consul://HOST:PORT[,…] or embedded`,
    )
  refuse(['name'], "is for --store embedded (which agent's store file)")
  const { remoteStoreOptions, resolveJoinToken } = await import('../kv/index.ts')
  const { ConsulStore } = await import('../store/index.ts')
  // a join token given now, else the one kept in --data (a joined host's, or the store host's
  // own), as an agent on this host would; a real Consul's token or CA means no join token
  const forConsul = storeToken !== undefined || f['store-ca'] !== undefined
  const kept =
    joinToken ??
    (forConsul ? undefined : resolveJoinToken({ dataDir: str(f, 'data') ?? AGENT_DEFAULTS.data }))
  const { options, warnings } = remoteStoreOptions({
    address: url,
    joinToken: kept,
    token: storeToken,
    caFile: str(f, 'store-ca'),
  })
  return {
    store: ConsulStore.connect({ ...options, ...CLIENT }),
    warnings,
    close: async () => {},
  }
}

/** A stopped agent's embedded store, served to this process only (no listener). */
async function openEmbeddedFile(
  dataDir: string,
  node: string | undefined,
  create: boolean,
): Promise<OpenedStore> {
  if (!node)
    throw new ValidationError(
      '--store embedded needs --name NODE: the agent whose embedded store file (DATA/NODE/kv.db) to open',
    )
  const dbPath = join(dataDir, node, 'kv.db')
  // an import may prepare a host whose agent never ran here; an export needs a store that exists
  const where = create ? dataDir : join(dataDir, node)
  if (!existsSync(where))
    throw new ValidationError(
      `${where} does not exist: give the --data and --name the agent runs with`,
    )
  // the file is the agent's own: never write it under a running agent (a bpf agent holds its pin lock)
  const { lockPinDir } = await import('../agent/pin-lock.ts')
  const lock = lockPinDir(node, {
    create: false,
    busyHint: `stop it first (its embedded store file ${dbPath} is not written under a running agent), or reach its store with --store consul://HOST:8500`,
  })
  if (create) mkdirSync(join(dataDir, node), { recursive: true, mode: 0o700 })
  const { createKvServer } = await import('../kv/index.ts')
  const { ConsulStore } = await import('../store/index.ts')
  const kv = await createKvServer({
    dbPath,
    nodeName: node,
    advertise: 'in-process',
    sessionTtlMinMs: 1000,
  }).catch((e) => {
    lock?.release()
    throw e
  })
  const inner = ConsulStore.connect({
    address: 'http://in-process',
    fetch: ((input: string | URL | Request, init?: RequestInit) =>
      kv.fetch(new Request(input as string, init))) as typeof fetch,
  })
  return {
    store: renamed(inner, `the embedded store file ${dbPath}`),
    warnings: [],
    async close() {
      await kv.close()
      lock?.release()
    },
  }
}

/** The same store under the name messages should use. */
function renamed(s: ClusterStore, address: string): ClusterStore {
  return {
    address,
    leases: s.leases,
    get: (k) => s.get(k),
    list: (p) => s.list(p),
    txn: (ops) => s.txn(ops),
    watch: (p, on, h) => s.watch(p, on, h),
  }
}
