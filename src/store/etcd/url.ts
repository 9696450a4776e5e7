// --store etcd://HOST:PORT[,HOST:PORT...] (etcds:// for TLS) into member client URLs.
import { ValidationError } from '../../errors/index.ts'

export function parseEtcdUrl(s: string): { endpoints: string[]; tls: boolean } {
  const m = /^(etcds?):\/\/(.+)$/.exec(s.trim())
  if (!m) throw new ValidationError(`--store "${s}" must be etcd://HOST:PORT[,HOST:PORT...] (or etcds:// for TLS)`)
  const tls = m[1] === 'etcds'
  const endpoints = m[2]!.split(',').map((hp) => {
    const one = /^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(hp.trim())
    if (!one || Number(one[2]) < 1 || Number(one[2]) > 65535) {
      throw new ValidationError(`--store ${s}: "${hp}" must be HOST:PORT (e.g. 10.0.0.5:2379)`)
    }
    return `${tls ? 'https' : 'http'}://${one[1]}:${one[2]}`
  })
  if (new Set(endpoints).size !== endpoints.length) throw new ValidationError(`--store ${s}: a member is listed twice`)
  return { endpoints, tls }
}
