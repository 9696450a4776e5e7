// --store etcd://HOST:PORT[,HOST:PORT...] (etcds:// for TLS) into member client URLs.
import { readFileSync } from 'node:fs'
import { ValidationError } from '../../errors/index.ts'

export function parseEtcdUrl(s: string): { endpoints: string[]; tls: boolean } {
  const m = /^(etcds?):\/\/(.+)$/.exec(s.trim())
  if (!m)
    throw new ValidationError(
      `--store "${s}" must be etcd://HOST:PORT[,HOST:PORT...] (or etcds:// for TLS)`,
    )
  const tls = m[1] === 'etcds'
  const endpoints = m[2]!.split(',').map((hp) => {
    const one = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(hp.trim())
    if (!one || Number(one[2]) < 1 || Number(one[2]) > 65535) {
      throw new ValidationError(`--store ${s}: "${hp}" must be HOST:PORT (e.g. 10.0.0.5:2379)`)
    }
    return `${tls ? 'https' : 'http'}://${one[1]}:${one[2]}`
  })
  if (new Set(endpoints).size !== endpoints.length)
    throw new ValidationError(`--store ${s}: a member is listed twice`)
  return { endpoints, tls }
}

/**
 * The PEM texts of --store-ca, --store-cert and --store-key for etcds:// (read now, so a bad
 * path fails the start); TLS flags without etcds://, or a certificate without its key, are refused.
 */
export function etcdTlsFiles(
  store: string,
  tls: boolean,
  files: { ca?: string; cert?: string; key?: string },
): { ca?: string; cert?: string; key?: string } | undefined {
  const given = (Object.keys(files) as (keyof typeof files)[]).filter((k) => files[k] !== undefined)
  if (!tls) {
    if (given.length)
      throw new ValidationError(
        `--store-${given[0]} needs TLS: write --store ${store.replace(/^etcd:/, 'etcds:')}`,
      )
    return undefined
  }
  if ((files.cert === undefined) !== (files.key === undefined)) {
    throw new ValidationError(
      '--store-cert and --store-key go together: the client certificate and its private key (PEM files)',
    )
  }
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path, 'utf8')
    } catch (e) {
      throw new ValidationError(
        `--store-${flag} ${path}: cannot read it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); give a PEM file`,
      )
    }
  }
  const out: { ca?: string; cert?: string; key?: string } = {}
  for (const k of given) {
    const text = read(k, files[k]!)
    if (!/-----BEGIN [A-Z ]+-----/.test(text))
      throw new ValidationError(`--store-${k} ${files[k]}: not a PEM file (no -----BEGIN … line)`)
    out[k] = text
  }
  return given.length ? out : undefined
}
